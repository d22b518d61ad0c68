"""The development mail backend: nothing sent, the message printed and kept on disk."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from safehold.comms import mail, mailers
from safehold.comms.templating import Rendered
from safehold.config import Settings

CONFIG = mail.MailConfig(
    base_url="http://127.0.0.1:8000", mail_from="privacy@example.com", from_name="Example",
    unsubscribe_mailto=None,
)  # fmt: skip


def test_the_console_mailer_prints_the_text_and_keeps_the_message(tmp_path: Path) -> None:
    raw = mail.compose(
        CONFIG, Rendered("Your sign-in code", "Your code is 12345678.", None),
        to="wren@example.com", message_id="<m1@example.com>",
        date=datetime(2026, 11, 26, tzinfo=UTC), unsubscribe_token=None,
    )  # fmt: skip
    screen = io.StringIO()
    mailer = mailers.ConsoleMailer(tmp_path / "mail", Console(file=screen, width=100))
    mailer.connect()
    mailer.send(raw, sender="privacy@example.com", recipient="wren@example.com")
    mailer.close()
    shown = screen.getvalue()
    assert "Your code is 12345678." in shown
    assert "Your sign-in code" in shown
    assert "not sent" in shown
    kept = list((tmp_path / "mail").glob("*.eml"))
    assert [p.read_bytes() for p in kept] == [raw]


def test_the_backend_is_chosen_by_the_setting(tmp_path: Path) -> None:
    assert isinstance(mailers.mailer_for(Settings(data_dir=tmp_path)), mail.SmtpMailer)
    console = mailers.mailer_for(Settings(data_dir=tmp_path, mail_backend="console"))
    assert isinstance(console, mailers.ConsoleMailer)


def test_copies_are_named_after_their_outbox_row_and_erased_by_it(tmp_path: Path) -> None:
    import uuid

    mine, other = uuid.uuid4(), uuid.uuid4()
    mailer = mailers.ConsoleMailer(tmp_path / "mail", Console(file=io.StringIO(), width=100))
    mailer.connect()
    for item in (mine, other):
        raw = mail.compose(
            CONFIG, Rendered("Hello", "Dear Wren Example.", None), to="wren@example.com",
            message_id=f"<{item.hex}@example.com>", date=datetime(2026, 11, 26, tzinfo=UTC),
            unsubscribe_token=None,
        )  # fmt: skip
        mailer.send(raw, sender="privacy@example.com", recipient="wren@example.com")
    assert {p.name for p in (tmp_path / "mail").iterdir()} == {f"{mine.hex}.eml",
                                                                f"{other.hex}.eml"}  # fmt: skip
    assert mailers.erase_copies(tmp_path / "mail", [mine, uuid.uuid4()]) == 1
    assert [p.name for p in (tmp_path / "mail").iterdir()] == [f"{other.hex}.eml"]


def test_long_lines_and_links_are_never_wrapped(tmp_path: Path) -> None:
    link = "http://127.0.0.1:8000/exports/" + "x" * 120  # a signed link, longer than 80 columns
    body = f"Download your data: {link}\nThe words of a long sentence [stay] " + "word " * 30
    raw = mail.compose(
        CONFIG, Rendered("Your data is ready [export]", body, None), to="wren@example.com",
        message_id="<m2@example.com>", date=datetime(2026, 11, 26, tzinfo=UTC),
        unsubscribe_token=None,
    )  # fmt: skip
    screen = io.StringIO()  # not a terminal: a log file, `make run > log`
    mailer = mailers.ConsoleMailer(tmp_path / "mail", Console(file=screen, width=80))
    mailer.connect()
    mailer.send(raw, sender="privacy@example.com", recipient="wren@example.com")
    lines = screen.getvalue().splitlines()
    assert f"Download your data: {link}" in lines  # whole, on one line, without a border
    assert any(line.startswith("The words of a long sentence [stay] word") for line in lines)
    assert "To: wren@example.com" in lines
    assert "Subject: Your data is ready [export]" in lines
    assert any("development mail backend: not sent" in line for line in lines)
