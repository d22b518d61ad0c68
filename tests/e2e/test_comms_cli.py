"""`safehold messages …` and `safehold worker --help`: what an operator types."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from safehold import migrate
from safehold.cli import app
from safehold.comms import preferences, rules, tokens
from safehold.comms.models import OutboxItem
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from tests.conftest import DEFAULT_POLICY
from tests.integration.comms.support import enqueue, register

runner = CliRunner()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A migrated embedded database the CLI (reading the environment) opens too."""
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAFEHOLD_SMTP_PORT", "1")  # nothing listens: deliveries fail
    runtime = build_runtime(Settings(data_dir=tmp_path / "var", policy=DEFAULT_POLICY))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def item_of(runtime: Runtime, message_id: uuid.UUID) -> OutboxItem:
    with runtime.sessions() as session:
        return session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()


def test_the_groups_have_help() -> None:
    for args in (["messages"], ["worker"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_status_and_retry_of_a_message(live: Runtime) -> None:
    ada = register(live, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(live, "service_update", [ada])
    with transaction(live.sessions) as session:  # as a worker leaves a row that gave up
        row = session.get(OutboxItem, (ada, item_of(live, message_id).id))
        assert row is not None
        row.status, row.reason, row.attempts = "failed", "smtp.unreachable", rules.MAX_ATTEMPTS
    status = runner.invoke(app, ["messages", "status", str(message_id)])
    assert status.exit_code == 0, status.output
    assert "service_update" in status.output
    assert "smtp.unreachable" in status.output
    retry = runner.invoke(app, ["messages", "retry", str(message_id)])
    assert retry.exit_code == 0
    assert "queued 1 failed delivery again" in retry.output
    assert (item_of(live, message_id).status, item_of(live, message_id).attempts) == ("queued", 0)
    assert runner.invoke(app, ["messages", "status", "not-an-id"]).exit_code == 2
    missing = runner.invoke(app, ["messages", "status", str(uuid.uuid4())])
    assert missing.exit_code == 2
    assert "no message with that id" in missing.output


def test_bounces_from_arguments_and_stdin_never_echo_addresses(live: Runtime) -> None:
    ada = register(live, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(live, "marketing", [ada])
    first = runner.invoke(app, ["messages", "bounce", "ada@example.com", "--kind", "complaint"])
    assert first.exit_code == 0
    assert "1 new, 0 already listed, 0 not valid" in first.output
    assert item_of(live, message_id).reason == "suppression.complaint"  # pending mail stopped
    piped = runner.invoke(
        app,
        ["messages", "bounce", "-"],
        input="ADA@example.com\n\nnot-an-address\nbo@example.net\n",
    )
    assert piped.exit_code == 1  # one line was not an address
    assert "2 new, 0 already listed, 1 not valid (hard_bounce)" in piped.output
    assert "not-an-address" not in piped.output
    assert "example" not in piped.output
    removed = runner.invoke(app, ["messages", "unsuppress", "bo@example.net"])
    assert removed.exit_code == 0
    assert "removed" in removed.output
    again = runner.invoke(app, ["messages", "unsuppress", "bo@example.net"])
    assert "not on the list" in again.output
    erased = runner.invoke(app, ["messages", "bounce", "x@example.com", "--kind", "erased"])
    assert erased.exit_code == 2


def test_an_unsubscribe_request_by_mail_is_honoured_once(live: Runtime) -> None:
    ada = register(live, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(live, "marketing", [ada])
    key = tokens.derive_key(live.vault.provider.index_key())
    subject_line = f"unsubscribe {tokens.make_token(key, item_of(live, message_id).id)}"
    done = runner.invoke(app, ["messages", "unsubscribe", subject_line])
    assert done.exit_code == 0
    assert "unsubscribed" in done.output
    again = runner.invoke(app, ["messages", "unsubscribe", subject_line])
    assert again.exit_code == 0
    assert "already unsubscribed" in again.output
    forged_line = subject_line[:-1] + ("B" if subject_line.endswith("A") else "A")
    forged = runner.invoke(app, ["messages", "unsubscribe", forged_line])
    assert forged.exit_code == 2
    assert "not valid" in forged.output
    with live.sessions() as session:
        latest = preferences.latest(session, ada)
    assert latest is not None
    assert (latest.choice, latest.channel) == ("opted_out", "reply")
