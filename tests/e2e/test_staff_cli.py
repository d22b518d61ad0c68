"""`safehold staff …`: the first owner (once), invitations by role, the list as JSON, and
removal (never of the last owner); each invitation e-mailed to a real SMTP sink."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safehold.cli import app
from tests.integration.comms.smtp import SmtpServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAFEHOLD_SMTP_HOST", smtp.host)
    monkeypatch.setenv("SAFEHOLD_SMTP_PORT", str(smtp.port))


def listed() -> list[dict[str, str | None]]:
    result = runner.invoke(app, ["staff", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str | None]] = json.loads(result.output)
    return rows


def test_owner_invites_lists_and_removes(smtp: SmtpServer) -> None:
    made = runner.invoke(app, ["staff", "create-owner", "olive@example.com", "--name", "Olive"])
    assert made.exit_code == 0, made.output
    assert "Invited Olive as owner" in made.output
    again = runner.invoke(app, ["staff", "create-owner", "other@example.com"])
    assert again.exit_code == 2
    assert "an owner exists" in again.output

    bad = runner.invoke(app, ["staff", "invite", "sam@example.com", "--role", "superuser"])
    assert bad.exit_code == 2
    assert "no role 'superuser'" in bad.output
    ok = runner.invoke(app, ["staff", "invite", "sam@example.com", "--role", "support_agent"])
    assert ok.exit_code == 0, ok.output
    assert len(smtp.inbox.to("sam@example.com")) == 1
    twice = runner.invoke(app, ["staff", "invite", "SAM@example.com", "--role", "analyst"])
    assert twice.exit_code == 2
    assert "already a staff member" in twice.output

    rows = listed()
    assert [(r["name"], r["role"], r["status"]) for r in rows] == [
        ("Olive", "owner", "invited"), ("sam", "support_agent", "invited"),
    ]  # fmt: skip
    assert all("example.com" not in json.dumps(r) for r in rows)  # no address is stored

    promoted = runner.invoke(app, ["staff", "role", "sam@example.com", "privacy_officer"])
    assert promoted.exit_code == 0, promoted.output
    assert "sam is now privacy officer" in promoted.output
    assert listed()[1]["role"] == "privacy_officer"
    demoted = runner.invoke(app, ["staff", "role", "olive@example.com", "auditor"])
    assert demoted.exit_code == 2
    assert "last owner" in demoted.output

    last = runner.invoke(app, ["staff", "remove", "olive@example.com"])
    assert last.exit_code == 2
    assert "last owner" in last.output
    removed = runner.invoke(app, ["staff", "remove", "sam@example.com"])
    assert removed.exit_code == 0, removed.output
    assert [r["status"] for r in listed()] == ["invited", "removed"]
    unknown = runner.invoke(app, ["staff", "remove", "sam@example.com"])
    assert unknown.exit_code == 2


def test_reset_totp_from_the_server(smtp: SmtpServer) -> None:
    made = runner.invoke(app, ["staff", "create-owner", "olive@example.com", "--name", "Olive"])
    assert made.exit_code == 0, made.output
    early = runner.invoke(app, ["staff", "reset-totp", "olive@example.com"])
    assert early.exit_code == 2
    assert "has not set up an authenticator yet" in early.output
    unknown = runner.invoke(app, ["staff", "reset-totp", "nobody@example.com"])
    assert unknown.exit_code == 2
    assert "no staff member has that address" in unknown.output
