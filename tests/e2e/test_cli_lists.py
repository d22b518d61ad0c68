"""The CLI's lists: whole ids in every table, whatever the width, and `--format json` for
`keys list` and `requests list` with the keys the API answers with (issue 20, item 7)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safehold import migrate
from safehold.access.schemas import ApiKeyOut
from safehold.cli import app
from safehold.clock import FrozenClock
from safehold.config import load_settings
from safehold.requests.schemas import RequestOut
from safehold.runtime import build_runtime
from tests.integration.requests.support import open_request, person

runner = CliRunner()
KEY_FIELDS = {"id", "name", "scopes", "purposes", "created_at", "created_by", "revoked_at"}
REQUEST_FIELDS = {
    "id", "subject_id", "kind", "purpose", "channel", "made_by", "status", "received_at",
    "deadline_at", "overdue", "extended_at", "extension_reason", "verified_at", "started_at",
    "responded_at", "rejection_reason", "code_expires_at", "code_attempts", "progress",
    "assignee_id", "assigned_at",
}  # fmt: skip


def test_the_json_keys_are_the_api_s() -> None:
    # GET /v1/keys answers list[ApiKeyOut], GET /v1/requests list[RequestOut]
    assert set(ApiKeyOut.model_fields) == KEY_FIELDS
    assert set(RequestOut.model_fields) == REQUEST_FIELDS


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def make_key(name: str) -> str:
    created = runner.invoke(
        app,
        [
            "keys", "create", "--name", name,
            "--scopes", "subjects:read,subjects:write,events:write,requests:write",
            "--purposes", "service_provision,communication.service,legal_obligation",
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    token = next(line for line in created.output.splitlines() if line.startswith("shk_"))
    return token.split("_")[1]


def opened_requests(count: int) -> list[str]:
    """Requests opened on a clock long past, so each is overdue now."""
    runtime = build_runtime(load_settings(), clock=FrozenClock(datetime(2020, 1, 31, tzinfo=UTC)))
    migrate.upgrade(runtime.engine)
    people = [person(runtime, tag) for tag in ("Ada", "Grace", "Hedy")[:count]]
    ids = [str(open_request(runtime, sid, kind="access")) for sid in people]
    runtime.close()
    return ids


def whole_on_a_line(ident: str, output: str) -> bool:
    return any(ident in line for line in output.splitlines())


@pytest.mark.parametrize("columns", ["80", "60"])
def test_the_key_table_shows_whole_ids_on_a_narrow_terminal(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_ids = [make_key("crm back end"), make_key("billing")]
    monkeypatch.setenv("COLUMNS", columns)
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert max(len(line) for line in listed.stdout.splitlines()) <= int(columns)
    for key_id in key_ids:
        assert whole_on_a_line(key_id, listed.stdout), listed.stdout
    assert "…" not in listed.stdout  # no cell is cut short


def test_the_request_table_shows_whole_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = opened_requests(2)
    monkeypatch.setenv("COLUMNS", "80")
    listed = runner.invoke(app, ["requests", "list"])
    assert listed.exit_code == 0, listed.output
    for rid in ids:
        assert whole_on_a_line(rid, listed.stdout), listed.stdout
    assert "…" not in listed.stdout
    assert "2 request(s)" in listed.stdout


def test_keys_list_as_json_has_the_api_s_keys_and_no_secret() -> None:
    kept, revoked = make_key("crm back end"), make_key("old importer")
    assert runner.invoke(app, ["keys", "revoke", revoked]).exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    keys = {k["id"]: k for k in json.loads(listed.stdout)}  # stdout is the JSON and only it
    assert set(keys) == {kept, revoked}
    assert all(set(k) == KEY_FIELDS for k in keys.values())
    assert keys[kept]["name"] == "crm back end"
    assert keys[kept]["scopes"] == sorted(keys[kept]["scopes"])
    assert "requests:write" in keys[kept]["scopes"]
    assert "legal_obligation" in keys[kept]["purposes"]
    assert keys[kept]["revoked_at"] is None
    assert datetime.fromisoformat(keys[revoked]["revoked_at"]).tzinfo is not None
    assert "secret" not in listed.stdout
    assert "shk_" not in listed.stdout


def test_requests_list_as_json_has_the_api_s_keys_by_deadline() -> None:
    ids = opened_requests(2)
    listed = runner.invoke(app, ["requests", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    requests = json.loads(listed.stdout)
    assert sorted(r["id"] for r in requests) == sorted(ids)
    assert all(set(r) == REQUEST_FIELDS for r in requests)
    deadlines = [datetime.fromisoformat(r["deadline_at"]) for r in requests]
    assert deadlines == sorted(deadlines)
    assert {(r["kind"], r["status"], r["overdue"]) for r in requests} == {
        ("access", "received", True)
    }


def test_overdue_as_json_still_exits_1_and_prints_only_json() -> None:
    ids = opened_requests(1)
    listed = runner.invoke(app, ["requests", "list", "--overdue", "--format", "json"])
    assert listed.exit_code == 1
    assert [r["id"] for r in json.loads(listed.stdout)] == ids
    none = runner.invoke(app, ["requests", "list", "--status", "completed", "--format", "json"])
    assert none.exit_code == 0
    assert json.loads(none.stdout) == []
