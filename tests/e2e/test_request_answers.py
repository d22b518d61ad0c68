"""Access, objection and rectification over HTTP: the download link and its page, expired
and forged links, an erased person's link; and `safehold requests export`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from safehold import migrate
from safehold.cli import app
from safehold.clock import FrozenClock
from safehold.config import load_settings
from safehold.requests import jobs, rules
from safehold.runtime import Runtime, build_runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.integration.requests.support import ctx, person, signed_in, verified


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def test_an_access_request_gives_a_link_to_the_data_and_its_summary(
    client: TestClient, runtime: Runtime, make_key: MakeKey, clock: FrozenClock
) -> None:
    auth = bearer(make_key(["requests:write"]))
    sid = person(runtime)
    rid = verified(runtime, sid, "access")
    answer = client.post(f"/v1/requests/{rid}/access", headers=auth)
    assert answer.status_code == 200, answer.text
    url = answer.json()["url"]
    assert url.startswith("/exports/")
    assert datetime.fromisoformat(answer.json()["expires_at"]) > clock.now()
    state = client.get(f"/v1/requests/{rid}", headers=auth).json()
    assert (state["status"], state["responded_at"] is not None) == ("completed", True)

    download = client.get(url)  # no API key: the signed link is the authority
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="safehold-export-{rid}.json"'
    )
    doc = json.loads(download.content)
    assert {c["id"]: c["values"] for c in doc["categories"]}["account.name"] == {
        "full_name": "Ada Example"
    }
    page = client.get(url, params={"format": "html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Ada Example" in page.text
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert client.get(url, params={"format": "xml"}).status_code == 422

    forged = client.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
    assert forged.status_code == 404
    assert "export_link_invalid" in forged.text  # /exports is a page: errors are pages too
    clock.advance(rules.EXPORT_LINK_TTL)
    expired = client.get(url)
    assert expired.status_code == 410
    assert "export_link_expired" in expired.text


def test_an_erased_persons_link_is_gone(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["requests:write"]))
    sid = person(runtime)
    url = client.post(f"/v1/requests/{signed_in(runtime, sid, 'access')}/access", headers=auth)
    erasure = signed_in(runtime, sid, "erasure")
    jobs.erase(runtime.sessions, ctx(runtime), erasure)
    gone = client.get(url.json()["url"])
    assert gone.status_code == 410
    assert "subject_erased" in gone.text
    assert "Ada" not in gone.text


def test_objection_and_rectification_requests_over_http(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["requests:write"]))
    sid = person(runtime)
    refused = client.post(
        "/v1/requests", json={"subject_id": str(sid), "kind": "objection"}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "request_objection_invalid"
    opened = client.post(
        "/v1/requests",
        json={"subject_id": str(sid), "kind": "objection", "purpose": "platform_improvement"},
        headers=auth,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["purpose"] == "platform_improvement"
    early = client.post(f"/v1/requests/{opened.json()['id']}/objection", headers=auth)
    assert early.status_code == 409  # not verified yet

    fix = signed_in(runtime, sid, "rectification")
    wrong_kind = client.post(f"/v1/requests/{fix}/objection", headers=auth)
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["error"]["code"] == "request_wrong_kind"
    bad = client.post(
        f"/v1/requests/{fix}/rectification", json={"values": {"email": "not-an-address"}},
        headers=auth,
    )  # fmt: skip
    assert bad.status_code == 422
    assert "not-an-address" not in bad.text
    done = client.post(
        f"/v1/requests/{fix}/rectification", json={"values": {"name": "Ada Corrected"}},
        headers=auth,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert "Corrected" not in done.text


def test_the_cli_writes_an_export(data_dir: Path, tmp_path: Path) -> None:
    runtime = build_runtime(load_settings(), clock=FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    migrate.upgrade(runtime.engine)
    rid = verified(runtime, person(runtime), "access")
    runtime.close()
    out = tmp_path / "export.json"
    result = CliRunner().invoke(app, ["requests", "export", str(rid), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["subject"]["status"] == "active"
    assert [r["status"] for r in doc["requests"]] == ["completed"]
    again = CliRunner().invoke(app, ["requests", "export", str(rid), "--out", str(out)])
    assert again.exit_code == 0, again.output  # an answered request can be read again
    assert CliRunner().invoke(app, ["requests", "export", "nope"]).exit_code != 0
