"""Communication through the HTTP API and the one-click page, with a real SMTP server
(aiosmtpd on loopback): a campaign is sent, the e-mail is parsed, its unsubscribe link is
POSTed, and the next campaign skips that person."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from safehold.comms.mail import SmtpMailer
from safehold.config import Settings
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL, comms_settings, deliver_all

Headers = dict[str, str]
PEOPLE = {
    "ada": ("Ada Quillfeather", "ada@example.com", True),
    "bo": ("Bo Brightwater", "bo@example.net", True),
    "cy": ("Cy Example", "cy@example.com", False),
}


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def crm(make_key: MakeKey) -> Headers:
    return bearer(make_key(["subjects:read", "subjects:write"], ["service_provision"], name="crm"))


@pytest.fixture
def sender(make_key: MakeKey) -> Headers:
    purposes = ["communication.service", "communication.marketing"]
    return bearer(make_key(["messages:send"], purposes, name="mailer"))


@pytest.fixture
def mail_admin(make_key: MakeKey) -> Headers:
    return bearer(make_key(["messages:admin"], name="bounces"))


@pytest.fixture
def people(client: TestClient, crm: Headers) -> dict[str, str]:
    ids = {}
    for key, (name, email, opt_in) in PEOPLE.items():
        body = {"name": name, "email": email, "marketing_opt_in": opt_in}
        response = client.post("/v1/subjects", json=body, headers=crm)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["id"]
    return ids


def send(client: TestClient, headers: Headers, **overrides: Any) -> dict[str, Any]:
    body = {
        "kind": "marketing",
        "audience": {"all": True},
        "subject": "Spring offer for {{ name }}",
        "text": "Dear {{ name }},\n\nOur spring offer.",
    } | overrides
    response = client.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def deliver(runtime: Runtime) -> None:
    mailer = SmtpMailer.from_settings(runtime.settings)
    try:
        deliver_all(runtime, mailer)
    finally:
        mailer.close()


def link_of(smtp: SmtpServer, address: str) -> str:
    (mail,) = smtp.inbox.to(address)
    https = mail["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert https.startswith(f"{BASE_URL}/unsubscribe/")
    return urlsplit(https).path


def test_one_click_removes_a_person_from_the_next_campaign(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers, crm: Headers,
) -> None:  # fmt: skip
    first = send(client, sender)
    assert (first["total"], first["counts"]["queued"], first["counts"]["skipped"]) == (3, 2, 1)
    assert first["reasons"] == {"purposes.communication.marketing.opt_out": 1}
    deliver(runtime)
    assert sorted(m["To"] for m in smtp.inbox.messages()) == ["ada@example.com", "bo@example.net"]
    path = link_of(smtp, "bo@example.net")

    shown = client.get(path)  # a link scanner or the person opening the link
    assert shown.status_code == 200
    assert "text/html" in shown.headers["content-type"]
    assert '<form method="post"' in shown.text
    assert 'value="One-Click"' in shown.text
    assert "bo@example.net" not in shown.text  # the page does not reveal the address
    assert '<header class="site">' in shown.text  # one of the site's pages: its header
    assert 'href="/policy/versions"' in shown.text
    pref = client.get(f"/v1/subjects/{people['bo']}/marketing", headers=crm).json()
    assert pref["choice"] == "opted_in"  # GET never unsubscribes

    clicked = client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert clicked.status_code == 200
    assert "set-cookie" not in clicked.headers
    assert "no longer receive marketing" in clicked.text
    again = client.post(path, content="List-Unsubscribe=One-Click", follow_redirects=False)
    assert again.status_code == 200
    assert "already unsubscribed" in again.text

    pref = client.get(f"/v1/subjects/{people['bo']}/marketing", headers=crm).json()
    assert (pref["choice"], pref["receives_marketing"]) == ("opted_out", False)
    assert pref["rule"] == "purposes.communication.marketing.opt_out"
    assert [(c["choice"], c["channel"]) for c in pref["history"]] == [
        ("opted_in", "sign_up"),
        ("opted_out", "one_click"),
    ]

    second = send(client, sender, subject="Summer offer")
    assert second["counts"]["queued"] == 1
    assert second["counts"]["skipped"] == 2
    deliver(runtime)
    assert [m["To"] for m in smtp.inbox.messages() if m["Subject"] == "Summer offer"] == [
        "ada@example.com"
    ]
    status = client.get(f"/v1/messages/{second['id']}", headers=sender).json()
    assert (status["counts"]["sent"], status["counts"]["skipped"]) == (1, 2)


def test_a_service_update_reaches_every_active_account_even_opted_out_ones(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers,
) -> None:  # fmt: skip
    sent = send(client, sender, kind="service_update", subject="Maintenance tonight")
    assert sent["counts"]["queued"] == 3
    assert sent["purpose"] == "communication.service"
    deliver(runtime)
    assert len(smtp.inbox.received) == 3
    assert all(m["List-Unsubscribe"] is None for m in smtp.inbox.messages())
    listed = client.get(f"/v1/messages/{sent['id']}/recipients?limit=2", headers=sender).json()
    assert len(listed["items"]) == 2
    assert listed["next_after"] is not None
    rest = client.get(
        f"/v1/messages/{sent['id']}/recipients?after={listed['next_after']}", headers=sender
    ).json()
    assert rest["next_after"] is None
    rows = listed["items"] + rest["items"]
    assert {r["subject_id"] for r in rows} == set(people.values())
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    ids = {m["Message-ID"] for m in smtp.inbox.messages()}
    assert {r["message_id"] for r in rows} == ids


def test_forged_links_are_refused_and_change_nothing(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers, crm: Headers,
) -> None:  # fmt: skip
    send(client, sender)
    deliver(runtime)
    path = link_of(smtp, "ada@example.com")
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    for attempt in (forged, "/unsubscribe/not-a-token", path + "x"):
        assert client.get(attempt).status_code == 404
        refused = client.post(attempt, content="List-Unsubscribe=One-Click")
        assert refused.status_code == 404
        assert "not valid" in refused.text
    pref = client.get(f"/v1/subjects/{people['ada']}/marketing", headers=crm).json()
    assert [c["channel"] for c in pref["history"]] == ["sign_up"]


def test_a_replayed_link_after_a_newer_choice_is_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers, crm: Headers,
) -> None:  # fmt: skip
    send(client, sender)
    deliver(runtime)
    path = link_of(smtp, "ada@example.com")
    assert client.post(path).status_code == 200
    runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    back = client.post(
        f"/v1/subjects/{people['ada']}/marketing",
        json={"choice": "opted_in", "channel": "privacy_center"},
        headers=crm,
    )
    assert back.status_code == 200
    assert back.json()["receives_marketing"] is True
    replay = client.post(path)
    assert replay.status_code == 409
    assert "out of date" in replay.text
    pref = client.get(f"/v1/subjects/{people['ada']}/marketing", headers=crm).json()
    assert pref["choice"] == "opted_in"


def test_bad_submissions_are_refused_with_stable_codes(
    client: TestClient, people: dict[str, str], sender: Headers
) -> None:
    base = {"kind": "marketing", "audience": {"all": True}, "subject": "Hi", "text": "Body"}

    def refused(status: int, code: str, **change: Any) -> dict[str, Any]:
        response = client.post("/v1/messages", json=base | change, headers=sender)
        assert response.status_code == status, response.text
        assert_error(response.json(), code)
        details: dict[str, Any] = response.json()["error"]["details"]
        return details

    assert "marketing" in refused(422, "unknown_message_kind", kind="newsletter")["kinds"]
    line = refused(422, "template_invalid", text="Hello\n{{ name }\n")
    assert (line["part"], line["line"]) == ("text", 2)
    assert refused(422, "template_invalid", html="<p>{{ iban }}</p>")["variable"] == "iban"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert refused(422, "unknown_recipients", audience={"subject_ids": [unknown]}) == {"unknown": 1}
    refused(422, "validation_failed", audience={"all": True, "subject_ids": [people["ada"]]})
    refused(422, "validation_failed", audience={})


def test_keys_need_the_scope_and_the_purpose_of_the_kind(
    client: TestClient, make_key: MakeKey, people: dict[str, str]
) -> None:
    body = {"kind": "marketing", "audience": {"all": True}, "subject": "Hi", "text": "Body"}
    service_only = bearer(make_key(["messages:send"], ["communication.service"]))
    response = client.post("/v1/messages", json=body, headers=service_only)
    assert response.status_code == 403
    assert_error(response.json(), "purpose_not_allowed")
    no_scope = bearer(make_key(["subjects:read"], ["*"]))
    response = client.post("/v1/messages", json=body, headers=no_scope)
    assert_error(response.json(), "missing_scope")
    missing = client.get("/v1/messages/00000000-0000-4000-8000-000000000000", headers=service_only)
    assert missing.status_code == 404
    assert_error(missing.json(), "message_not_found")


def test_a_reported_hard_bounce_suppresses_later_mail(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers, mail_admin: Headers,
) -> None:  # fmt: skip
    report = {"email": "Bo@Example.net", "kind": "hard_bounce"}
    assert client.post("/v1/messages/bounces", json=report, headers=sender).status_code == 403
    first = client.post("/v1/messages/bounces", json=report, headers=mail_admin)
    assert first.status_code == 200
    assert first.json() == {"recorded": True}
    again = client.post("/v1/messages/bounces", json=report, headers=mail_admin)
    assert again.json() == {"recorded": False}
    bad = client.post(
        "/v1/messages/bounces", json={"email": "not an address", "kind": "complaint"},
        headers=mail_admin,
    )  # fmt: skip
    assert bad.status_code == 422
    assert_error(bad.json(), "invalid_email")
    assert "not an address" not in bad.text
    sent = send(client, sender, kind="announcement", subject="News")
    assert sent["reasons"] == {"suppression.hard_bounce": 1}
    deliver(runtime)
    assert sorted(m["To"] for m in smtp.inbox.messages()) == ["ada@example.com", "cy@example.com"]


def test_failed_deliveries_can_be_queued_again(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, people: dict[str, str],
    sender: Headers, mail_admin: Headers,
) -> None:  # fmt: skip
    smtp.inbox.refuse["ada@example.com"] = "550 5.7.1 refused by policy"
    sent = send(client, sender, kind="service_update", audience={"subject_ids": [people["ada"]]})
    deliver(runtime)
    status = client.get(f"/v1/messages/{sent['id']}", headers=sender).json()
    assert status["counts"]["failed"] == 1
    assert status["reasons"] == {"smtp.rejected.550": 1}
    del smtp.inbox.refuse["ada@example.com"]
    requeued = client.post(f"/v1/messages/{sent['id']}/requeue", headers=mail_admin)
    assert requeued.json() == {"requeued": 1}
    deliver(runtime)
    status = client.get(f"/v1/messages/{sent['id']}", headers=sender).json()
    assert status["counts"]["sent"] == 1
    assert status["counts"]["failed"] == 0


def test_the_unsubscribe_page_is_not_part_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/messages" in paths
    assert "/v1/subjects/{subject_id}/marketing" in paths
    assert not any(p.startswith("/unsubscribe") for p in paths)
