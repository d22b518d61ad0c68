"""Composing one recipient's e-mail: parts, headers, the visible unsubscribe link."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from safehold.comms import mail
from safehold.comms.templating import Rendered

CONFIG = mail.MailConfig(
    base_url="https://safehold.example.com",
    mail_from="news@example.com",
    from_name="Example Operator",
    unsubscribe_mailto="unsubscribe@example.com",
)
TOKEN = "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def compose(rendered: Rendered, token: str | None) -> tuple[bytes, email.message.EmailMessage]:
    raw = mail.compose(
        CONFIG, rendered, to="ada@example.com", message_id="<x1@example.com>", date=AT,
        unsubscribe_token=token,
    )  # fmt: skip
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return raw, parsed


def test_marketing_carries_both_rfc_8058_headers_unfolded_and_a_link_in_both_parts() -> None:
    raw, parsed = compose(Rendered("Offer", "Hello", "<html><body><p>Hi</p></body></html>"), TOKEN)
    url = f"https://safehold.example.com/unsubscribe/{TOKEN}"
    mailto = f"mailto:unsubscribe@example.com?subject=unsubscribe%20{TOKEN}"
    assert f"List-Unsubscribe: <{url}>, <{mailto}>\r\n".encode() in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Hello")
    assert url in text
    assert html.index(f'<a href="{url}">Unsubscribe</a>') < html.index("</body>")
    assert parsed["Message-ID"] == "<x1@example.com>"
    assert parsed["Date"].datetime == AT
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF line ends, as SMTP wants


def test_service_mail_has_no_unsubscribe_header_and_gets_an_html_part_anyway() -> None:
    raw, parsed = compose(Rendered("Maintenance", "Tonight <2h>", None), None)
    assert b"List-Unsubscribe" not in raw
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Tonight &lt;2h&gt;" in html


def test_without_a_mailto_only_the_https_url_is_offered() -> None:
    config = mail.MailConfig("https://s.example.com", "news@example.com", "Op")
    assert config.list_unsubscribe(TOKEN) == f"<https://s.example.com/unsubscribe/{TOKEN}>"


def test_non_ascii_names_subjects_and_bodies_survive_as_7_bit_mail() -> None:
    config = mail.MailConfig("https://s.example.com", "news@example.com", "Zoë's Café")
    raw = mail.compose(
        config, Rendered("Grüße, Zoë", "Schöne Grüße", None), to="zoe@example.com",
        message_id="<x2@example.com>", date=AT, unsubscribe_token=None,
    )  # fmt: skip
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed["Subject"] == "Grüße, Zoë"
    assert parsed["From"].addresses[0].display_name == "Zoë's Café"
    assert parsed.get_body(("plain",)).get_content().strip() == "Schöne Grüße"  # type: ignore[union-attr]
