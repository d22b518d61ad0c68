"""Which mailer the outbox uses: the real SMTP one, or — for a demo or a developer's machine
— the console mailer, chosen by ``SAFEHOLD_MAIL_BACKEND`` (``smtp`` by default).

The console mailer sends nothing: it prints each e-mail's recipient, subject and text to the
terminal and keeps the whole message under ``<data dir>/mail/``, one file per outbox row
named after the row (``<row id hex>.eml``, from the Message-ID), so that erasing a person
deletes the copies of the e-mails sent to them (:func:`erase_copies`, an erasure step the
certificate reports). It exists so that
``make run`` works on a machine without a mail server — the privacy center's sign-in code
appears in the terminal. It shows personal data on the console by design, so it must never
be configured in production (``safehold serve`` says so in red when it is).
"""

from __future__ import annotations

import email
import email.policy
import os
import threading
import uuid
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path

from rich.console import Console
from rich.text import Text

from safehold.comms.mail import Mailer, SmtpMailer
from safehold.config import Settings

_lock = threading.Lock()


class ConsoleMailer:
    def __init__(self, folder: Path, out: Console | None = None) -> None:
        self.folder = folder
        self.out = out or Console(highlight=False)

    def connect(self) -> None:
        # The messages quote names and sign-in codes: owner-only, like the rest of the data dir.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:  # noqa: ARG002
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else "(no plain-text part)"
        with _lock:
            path = copy_path(self.folder, str(parsed["message-id"] or ""))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(message)
            # Between two rules, not in a panel, and never wrapped by us (soft_wrap): a panel
            # re-flows the text to the console's width — 80 columns when the output is a
            # file or a pipe — which breaks every link. The terminal wraps long lines softly.
            self.out.rule(Text("e-mail — development mail backend: not sent"), align="left")
            head = f"To: {recipient}\nSubject: {parsed['subject']}\n\n"
            self.out.print(Text(head + str(text).strip()), soft_wrap=True)
            self.out.rule()

    def close(self) -> None:
        return None


def copy_path(folder: Path, message_id: str) -> Path:
    """Where the copy of the e-mail with this Message-ID (``<row hex@domain>``) is kept."""
    local = message_id.strip("<>").partition("@")[0]
    name = local if local and all(c in "0123456789abcdef" for c in local) else "unknown"
    return folder / f"{name}.eml"


def erase_copies(folder: Path, item_ids: Iterable[uuid.UUID]) -> int:
    """Delete the kept copies of these outbox rows' e-mails (a person's, at erasure): each
    is overwritten with zeros and flushed before it is unlinked — a best effort on a
    journaling file system or an SSD, which the development backend's docs say. Returns how
    many copies there were."""
    deleted = 0
    with _lock:
        for item_id in item_ids:
            path = folder / f"{item_id.hex}.eml"
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            with path.open("r+b") as file:
                file.write(b"\0" * size)
                file.flush()
                os.fsync(file.fileno())
            path.unlink()
            deleted += 1
    return deleted


def mailer_for(settings: Settings) -> Mailer:
    if settings.mail_backend == "console":
        return ConsoleMailer(settings.data_dir / "mail")
    return SmtpMailer.from_settings(settings)
