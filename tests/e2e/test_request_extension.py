"""The rendered policy's "we may extend this …; we will tell you within the first period,
with the reason" over HTTP and the CLI (decision 0029): the API extends and the person gets
the e-mail (a real SMTP sink) and sees the new deadline and the reason on /me "My requests";
once the first deadline has passed the API, the console and the CLI refuse with
``extension_too_late``."""

from __future__ import annotations

import html
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from safehold import migrate
from safehold.cli import app
from safehold.clock import FrozenClock
from safehold.comms import jobs as comms_jobs
from safehold.config import load_settings
from safehold.requests import rules
from safehold.runtime import Runtime, build_runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_console import post, staff
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL
from tests.integration.requests.support import load, open_request, person

settings, ada = _settings_fixture, _ada_fixture  # SMTP sink settings, Ada Quill registered
EMAIL = "ada.quill@example.com"


def _open(client: TestClient, auth: dict[str, str], sid: uuid.UUID, kind: str) -> str:
    made = client.post("/v1/requests", json={"subject_id": str(sid), "kind": kind}, headers=auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_the_person_is_told_the_new_deadline_and_the_reason_by_mail_and_on_me(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, make_key: MakeKey, ada: uuid.UUID,
    clock: FrozenClock,
) -> None:  # fmt: skip
    auth = bearer(make_key(["requests:write"]))
    rid = _open(client, auth, ada, "access")
    first = load(runtime, uuid.UUID(rid)).deadline_at
    url = f"/v1/requests/{rid}/extension"
    done = client.post(url, json={"reason": "number_of_requests", "extension": "P1M"}, headers=auth)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["extension_reason"] == "number_of_requests"
    new = datetime.fromisoformat(body["deadline_at"])
    assert new == rules.deadline(first, "P1M")
    twice = client.post(url, json={"reason": "complexity", "extension": "P1D"}, headers=auth)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "request_already_extended")

    comms_jobs.run(runtime)
    mails = [m for m in smtp.inbox.to(EMAIL)
             if m["subject"] == "We need more time to answer your request"]  # fmt: skip
    assert len(mails) == 1  # one e-mail, however often staff tried
    part = mails[0].get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert "Hello Ada Quill" in text
    assert f"We had until {first:%Y-%m-%d}; we will now answer by {new:%Y-%m-%d}." in text
    assert f"Why: {rules.EXTENSION_WORDS['number_of_requests']}" in text
    assert f"{BASE_URL}/me/requests" in text

    sign_in(client, runtime, smtp, EMAIL)
    page = html.unescape(client.get("/me/requests").text)
    assert f"{new:%Y-%m-%d}" in page
    assert f"Extended on {clock.now():%Y-%m-%d} from {first:%Y-%m-%d}." in page
    assert f"Why: {rules.EXTENSION_WORDS['number_of_requests']}" in page


def test_past_the_first_deadline_the_api_and_the_console_refuse(
    client: TestClient, runtime: Runtime, make_key: MakeKey, ada: uuid.UUID, clock: FrozenClock
) -> None:
    auth = bearer(make_key(["requests:write"]))
    rid = _open(client, auth, ada, "access")
    deadline = load(runtime, uuid.UUID(rid)).deadline_at
    clock.set(deadline + timedelta(minutes=1))
    late = client.post(f"/v1/requests/{rid}/extension",
                       json={"reason": "complexity", "extension": "P1M"}, headers=auth)  # fmt: skip
    assert late.status_code == 409
    error = late.json()["error"]
    assert error["code"] == "extension_too_late"
    assert "the first deadline has passed" in error["message"]
    assert error["details"] == {"deadline_at": deadline.isoformat()}

    staff(client, make_key)
    url = f"/admin/requests/{rid}"
    page = post(client, url, f"{url}/extend", {"reason": "complexity", "extension": "P1M"})
    assert page.status_code == 409
    assert 'id="f-extension-error"' in page.text
    assert "The first deadline has passed" in html.unescape(page.text)
    after = load(runtime, uuid.UUID(rid))
    assert (after.extended_at, after.deadline_at, after.extension_notice_item) == (
        None, deadline, None,
    )  # fmt: skip


def test_the_console_offers_the_extension_in_words_and_refuses_anything_else(
    client: TestClient, runtime: Runtime, make_key: MakeKey, ada: uuid.UUID
) -> None:
    rid = open_request(runtime, ada, "access")
    first = load(runtime, rid).deadline_at
    staff(client, make_key)
    url = f"/admin/requests/{rid}"
    page = html.unescape(client.get(url).text)
    assert '<option value="P1M">1 month</option>' in page
    assert '<option value="P2M">2 months (the longest allowed)</option>' in page
    assert "ISO 8601" not in page
    # one way of writing the articles: "Art.", never lower-cased by the page
    assert "(art. " not in page
    assert "Because the request is complex (Art. 12(3))" in page
    assert "The request is manifestly unfounded (Art. 12(5))" in page
    for wrong in ("", "P3M", "P1Y", "two months"):
        refused = post(client, url, f"{url}/extend", {"reason": "complexity", "extension": wrong})
        assert refused.status_code == 422
        assert 'id="f-extension-error"' in refused.text
        assert "Choose how long to extend the deadline by." in refused.text
    assert load(runtime, rid).extended_at is None
    done = post(client, url, f"{url}/extend", {"reason": "complexity", "extension": "P1M"})
    assert done.status_code == 303, done.text
    assert load(runtime, rid).deadline_at == rules.deadline(first, "P1M")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def test_the_cli_extends_on_time_and_refuses_late(data_dir: Path) -> None:
    long_ago = build_runtime(load_settings(), clock=FrozenClock(datetime(2020, 1, 31, tzinfo=UTC)))
    migrate.upgrade(long_ago.engine)
    overdue = open_request(long_ago, person(long_ago, "Cleo"), kind="access")
    long_ago.close()
    today = build_runtime(load_settings())
    on_time = open_request(today, person(today, "Dov"), kind="access")
    today.close()
    runner = CliRunner()
    late = runner.invoke(app, ["requests", "extend", str(overdue), "--reason", "complexity"])
    assert late.exit_code == 2, late.output
    assert "extension_too_late" in late.output
    ok = runner.invoke(app, ["requests", "extend", str(on_time), "--reason", "complexity"])
    assert ok.exit_code == 0, ok.output
    assert "the person's e-mail is queued" in ok.output
    unknown = runner.invoke(app, ["requests", "extend", str(on_time), "--reason", "busy"])
    assert unknown.exit_code == 2
    again = runner.invoke(app, ["requests", "extend", str(on_time), "--reason", "complexity"])
    assert "request_already_extended" in again.output
