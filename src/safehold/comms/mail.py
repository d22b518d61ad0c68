"""E-mail: composing one recipient's message (text and HTML parts, RFC 8058 headers) and
handing it to an SMTP server with :mod:`smtplib`.

The :class:`Mailer` protocol is what the outbox job needs; :class:`SmtpMailer` is the real
one. Errors become :class:`MailError` with a stable code and never the server's text (it
often quotes the address).
"""

from __future__ import annotations

import html
import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol

from safehold.comms.templating import Rendered, text_to_html
from safehold.config import Settings

# The email package's compat32 API: about four times faster than EmailMessage's header
# registry, which matters once per recipient. RFC 5322 allows 998 characters per line;
# folding at 78 would break a long List-Unsubscribe URL over lines.
MAIL_POLICY = email_policy.compat32.clone(max_line_length=998, linesep="\r\n")
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP  # quoted-printable: readable, and any line length survives
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class MailConfig:
    """Where links point and who the mail is from."""

    base_url: str
    mail_from: str
    from_name: str
    unsubscribe_mailto: str | None = None
    # Where the console mail backend keeps its copies (None: the SMTP backend keeps none).
    copies: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, operator: str) -> MailConfig:
        return cls(
            base_url=settings.base_url,
            mail_from=settings.mail_from,
            from_name=operator,
            unsubscribe_mailto=settings.mail_unsubscribe_mailto,
            copies=settings.data_dir / "mail" if settings.mail_backend == "console" else None,
        )

    def link(self, path_or_url: str) -> str:
        """A link for an e-mail: a path names a page Safehold serves, so it is built from
        ``SAFEHOLD_BASE_URL`` (the controller's website does not serve /me or /policy); a full
        URL the policy gives (a policy posted on the operator's own site) stays as it is."""
        if path_or_url.startswith("/"):
            return self.base_url.rstrip("/") + path_or_url
        return path_or_url

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base_url}/unsubscribe/{token}"

    def list_unsubscribe(self, token: str) -> str:
        """RFC 2369 / RFC 8058: the https URL first, then the mailto where configured."""
        targets = [f"<{self.unsubscribe_url(token)}>"]
        if self.unsubscribe_mailto:
            targets.append(f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe%20{token}>")
        return ", ".join(targets)


def footer_text(operator: str, url: str) -> str:
    return (
        f"\n\n-- \nYou receive this e-mail because you are a customer of {operator}.\n"
        f"Unsubscribe with one click: {url}\n"
    )


def footer_html(operator: str, url: str) -> str:
    return (
        '<hr><p style="font-size:12px;color:#555">You receive this e-mail because you are a '
        f'customer of {html.escape(operator)}. <a href="{html.escape(url)}">Unsubscribe</a></p>'
    )


def _with_footer(document: str, footer: str) -> str:
    at = document.lower().rfind("</body>")
    return document + footer if at < 0 else document[:at] + footer + document[at:]


def _header(value: str) -> str:
    """ASCII as it is; anything else as RFC 2047 encoded words."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def compose(
    config: MailConfig, rendered: Rendered, *, to: str, message_id: str, date: datetime,
    unsubscribe_token: str | None,
) -> bytes:  # fmt: skip
    """One recipient's e-mail, as the bytes handed to the SMTP server: text and HTML parts
    (``multipart/alternative``). With an unsubscribe token (marketing) it carries
    ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` and a visible link in both parts."""
    text = rendered.text
    body_html = rendered.html if rendered.html is not None else text_to_html(text)
    message = MIMEMultipart("alternative", policy=MAIL_POLICY)
    message["From"] = formataddr((config.from_name, config.mail_from), "utf-8")
    message["To"] = to
    message["Subject"] = _header(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if unsubscribe_token is not None:
        url = config.unsubscribe_url(unsubscribe_token)
        message["List-Unsubscribe"] = config.list_unsubscribe(unsubscribe_token)
        message["List-Unsubscribe-Post"] = ONE_CLICK
        text += footer_text(config.from_name, url)
        body_html = _with_footer(body_html, footer_html(config.from_name, url))
    message.attach(MIMEText(text, "plain", UTF8, policy=MAIL_POLICY))  # type: ignore[arg-type]
    message.attach(MIMEText(body_html, "html", UTF8, policy=MAIL_POLICY))  # type: ignore[arg-type]
    return message.as_bytes()


class MailError(Exception):
    """A delivery that did not happen. ``permanent``: the server refused for good (5xx);
    ``connection``: no usable connection, so the next message would fail the same way."""

    def __init__(self, code: str, *, permanent: bool = False, connection: bool = False) -> None:
        super().__init__(code)
        self.code, self.permanent, self.connection = code, permanent, connection


class Mailer(Protocol):
    def connect(self) -> None: ...

    def send(self, message: bytes, *, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


def _refused(what: str, code: int) -> MailError:
    return MailError(f"smtp.{what}.{code}", permanent=500 <= code < 600)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpMailer:
    """One reused SMTP connection: plain, STARTTLS or implicit TLS, with optional login.

    Credentials are only ever sent over TLS (a plain connection with a username is refused,
    except to a loopback relay)."""

    def __init__(
        self, host: str, port: int, *, security: str = "none", username: str | None = None,
        password: str | None = None, timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
        )

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def connect(self) -> None:
        self._connection()

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        if self.username and self.security == "none" and not _is_loopback(self.host):
            raise MailError("smtp.credentials_need_tls", connection=True)
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
        except Exception as exc:
            if conn is not None:
                conn.close()
            raise _connection_error(exc) from None
        self._conn = conn
        return conn

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        conn = self._connection()
        try:
            conn.sendmail(sender, [recipient], message)
        # smtplib resets the SMTP transaction after a refusal; the connection stays usable.
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            raise _refused("rejected", code) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _refused("sender_refused", exc.smtp_code) from None
        except smtplib.SMTPDataError as exc:
            raise _refused("data_refused", exc.smtp_code) from None
        except smtplib.SMTPNotSupportedError:  # e.g. a non-ASCII address, no SMTPUTF8
            raise MailError("smtp.smtputf8_unsupported", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _refused("error", exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise _connection_error(exc) from None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _connection_error(exc: BaseException) -> MailError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        code = "smtp.auth_failed"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        code = "smtp.starttls_unsupported"
    elif isinstance(exc, ssl.SSLError):
        code = "smtp.tls_failed"
    elif isinstance(exc, TimeoutError):
        code = "smtp.timeout"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        code = "smtp.disconnected"
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = f"smtp.greeting_refused.{exc.smtp_code}"
    else:
        code = "smtp.unreachable"
    return MailError(code, connection=True)
