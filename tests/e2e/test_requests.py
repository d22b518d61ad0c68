"""Data-subject requests over HTTP (open, verify with the e-mailed code, erase, certificate),
legal holds, the overdue gauge on /metrics, and `safehold requests list --overdue`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from safehold import migrate
from safehold.cli import app
from safehold.clock import FrozenClock
from safehold.config import load_settings
from safehold.runtime import Runtime, build_runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.integration.requests.support import code_sent, open_request, person


def test_an_erasure_request_from_opening_to_certificate(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["requests:write", "holds:write"]))
    sid = person(runtime)
    created = client.post(
        "/v1/requests", json={"subject_id": str(sid), "kind": "erasure"}, headers=auth
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "received"
    assert body["code_attempts"] == 0
    assert "code" not in body
    assert "code_hash" not in body
    rid = body["id"]
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
    assert code not in created.text

    again = client.post(
        "/v1/requests", json={"subject_id": str(sid), "kind": "erasure"}, headers=auth
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "erasure_already_open"

    early = client.post(f"/v1/requests/{rid}/erasure", headers=auth)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "request_transition_refused"

    wrong = "00000000" if code != "00000000" else "11111111"
    refused = client.post(f"/v1/requests/{rid}/verification", json={"code": wrong}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "verification_code_invalid"
    assert wrong not in refused.text
    state = client.get(f"/v1/requests/{rid}", headers=auth).json()
    assert (state["status"], state["code_attempts"]) == ("received", 1)  # counted, nothing else

    ok = client.post(f"/v1/requests/{rid}/verification", json={"code": code}, headers=auth)
    assert ok.status_code == 200
    assert ok.json()["status"] == "verified"
    reused = client.post(f"/v1/requests/{rid}/verification", json={"code": code}, headers=auth)
    assert reused.status_code == 409

    missing = client.get(f"/v1/requests/{rid}/certificate", headers=auth)
    assert missing.status_code == 409
    assert missing.json()["error"]["code"] == "certificate_not_ready"
    done = client.post(f"/v1/requests/{rid}/erasure", headers=auth)
    assert done.status_code == 200, done.text
    cert = done.json()["certificate"]
    assert cert["outcome"] == "completed"
    assert cert["verification"]["ok"]
    assert client.get(f"/v1/requests/{rid}/certificate", headers=auth).json()["certificate"] == cert
    page = client.get(f"/v1/requests/{rid}/certificate.html", headers=auth)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Certificate of erasure</h1>" in page.text
    assert "invoice_records" in page.text
    # categories by the policy's names, with the ids the JSON uses beside them
    assert 'Name <code class="id">account.name</code>' in page.text
    assert 'href="/static/certificate.css"' in page.text  # its reading and print styles
    final = client.get(f"/v1/requests/{rid}", headers=auth).json()
    assert final["status"] == "completed"
    assert final["responded_at"] is not None

    gone = client.post(
        "/v1/requests", json={"subject_id": str(sid), "kind": "access"}, headers=auth
    )
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "subject_erased"


def test_holds_are_placed_listed_and_lifted(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["holds:write"]))
    sid = person(runtime)
    until = (runtime.clock.now() + timedelta(days=90)).isoformat()
    hold = {"subject_id": str(sid), "categories": ["account.email"], "reason": "tax audit",
            "legal_basis": "tax law", "until": until}  # fmt: skip
    placed = client.post("/v1/holds", json=hold, headers=auth)
    assert placed.status_code == 201
    assert placed.json()["active"] is True
    bad = client.post("/v1/holds", json=hold | {"categories": ["account.nope"]}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "hold_invalid"
    listed = client.get(f"/v1/holds?subject_id={sid}&active=true", headers=auth).json()
    assert [h["id"] for h in listed] == [placed.json()["id"]]
    lifted = client.delete(f"/v1/holds/{placed.json()['id']}", headers=auth)
    assert lifted.status_code == 200
    assert lifted.json()["active"] is False
    assert client.get(f"/v1/holds?subject_id={sid}&active=true", headers=auth).json() == []
    assert client.delete(f"/v1/holds/{placed.json()['id']}", headers=auth).status_code == 409
    no_scope = client.get("/v1/holds", headers=bearer(make_key(["requests:write"])))
    assert no_scope.status_code == 403


def test_overdue_requests_are_listed_and_counted_on_metrics(
    client: TestClient, runtime: Runtime, make_key: MakeKey, clock: FrozenClock
) -> None:
    auth = bearer(make_key(["requests:write"]))
    rid = open_request(runtime, person(runtime), kind="access")
    gauge = "safehold_requests_overdue 0.0"
    assert gauge in client.get("/metrics").text
    clock.advance(timedelta(days=32))
    assert "safehold_requests_overdue 1.0" in client.get("/metrics").text
    overdue = client.get("/v1/requests?overdue=true", headers=auth).json()
    assert [r["id"] for r in overdue] == [str(rid)]
    assert overdue[0]["overdue"] is True
    assert client.get("/v1/requests?status=completed", headers=auth).json() == []


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def test_the_cli_lists_overdue_requests(data_dir: Path) -> None:
    runtime = build_runtime(load_settings(), clock=FrozenClock(datetime(2020, 1, 31, tzinfo=UTC)))
    migrate.upgrade(runtime.engine)
    rid = open_request(runtime, person(runtime), kind="access")
    runtime.close()
    runner = CliRunner()
    result = runner.invoke(app, ["requests", "list", "--overdue"])
    assert result.exit_code == 1, result.output
    assert str(rid) in result.output  # whole: it is pasted into the next command
    assert "1 request(s)" in result.output
    everything = runner.invoke(app, ["requests", "list", "--status", "completed"])
    assert everything.exit_code == 0
    assert "0 request(s)" in everything.output
