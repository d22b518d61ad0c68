"""Requests owned by someone, through the console and the API (decision 0040): a support
agent opens a request on a person's behalf and acts on it but never carries out an erasure
(the form is not offered; posting it anyway is 403), assigns it, writes a note; the queue
opens on "my open requests"; a tampered assignee is refused; every new form needs its CSRF
token; API keys holding requests:write keep every power, requests:open alone cannot erase."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.config import Settings
from safehold.runtime import Runtime
from safehold.staff.rules import Role
from tests.e2e import staff_support as s
from tests.e2e.conftest import MakeKey
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings
from tests.integration.requests.support import load, open_request, person, verified

AGENT, OFFICER = "sam.agent@example.com", "olive.officer@example.com"
NOTE = "Asked by phone; reads the code out on Tuesday."


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def sign_in(client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str) -> None:
    attempt, secret = s.enrol(client, smtp, address)
    done = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert done.status_code == 303, done.text


def form_post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Response:
    token = s.token(client.get(page))
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def test_a_support_agent_opens_assigns_notes_but_never_erases(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    agent = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    officer = s.invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Olive Officer")
    sid = person(runtime, "Ada")
    sign_in(client, runtime, smtp, AGENT)

    page = f"/admin/people/{sid}?purpose=service_provision"
    wanted = {"purpose": "service_provision", "kind": "access", "channel": "phone"}
    opened = form_post(client, page, f"/admin/people/{sid}/requests", wanted)
    assert opened.status_code == 303, opened.text
    rid = opened.headers["location"].split("/")[-1].split("?")[0]
    assert load(runtime, uuid.UUID(rid)).made_by == "staff"

    detail = f"/admin/requests/{rid}"
    assigned = form_post(client, detail, f"{detail}/assignee", {"member": str(agent.id)})
    assert assigned.status_code == 303
    noted = form_post(client, detail, f"{detail}/notes", {"text": f"{NOTE}\nSecond line."})
    assert noted.status_code == 303
    shown = client.get(detail)
    assert "Sam Agent" in shown.text
    assert NOTE in shown.text
    assert "Only staff see these notes" in shown.text

    # Form tampering: an assignee the form does not offer, a member id that is no one's.
    for tampered in ("not-a-member", str(uuid.uuid4())):
        refused = form_post(client, detail, f"{detail}/assignee", {"member": tampered})
        assert refused.status_code == 422, tampered
        assert tampered not in refused.text
    assert load(runtime, uuid.UUID(rid)).assignee_id == agent.id

    erasure = verified(runtime, person(runtime, "Bea"), "erasure")
    erase_page = client.get(f"/admin/requests/{erasure}")
    assert 'action="/admin/requests/' + str(erasure) + '/erasure"' not in erase_page.text
    assert "needs the scope requests:execute" in erase_page.text
    forced = form_post(client, f"/admin/requests/{erasure}",
                       f"/admin/requests/{erasure}/erasure", {"confirm": "yes"})  # fmt: skip
    assert forced.status_code == 403
    assert "requests:execute" in forced.text
    assert load(runtime, erasure).status == "verified"  # nothing was carried out

    # The queue opens on the agent's own open requests.
    form_post(client, f"/admin/requests/{erasure}", f"/admin/requests/{erasure}/assignee",
              {"member": str(officer.id)})  # fmt: skip
    mine = client.get("/admin/requests")
    assert rid[:8] in mine.text
    assert str(erasure)[:8] not in mine.text
    anyone = client.get("/admin/requests?owner=anyone")
    assert rid[:8] in anyone.text
    assert str(erasure)[:8] in anyone.text
    nobody = client.get("/admin/requests?owner=nobody")
    assert rid[:8] not in nobody.text

    actor = f"staff:{agent.id}/support_agent"
    with runtime.sessions() as session:
        done = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == actor)).all()
    assert {"request.assign", "request.note.add", "request.note.read"} <= set(done)


def test_every_new_form_needs_its_csrf_token(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    agent = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    rid = open_request(runtime, person(runtime), "access")
    sign_in(client, runtime, smtp, AGENT)
    for action, data in ((f"/admin/requests/{rid}/assignee", {"member": str(agent.id)}),
                         (f"/admin/requests/{rid}/notes", {"text": NOTE})):  # fmt: skip
        refused = client.post(action, data=data, follow_redirects=False)
        assert refused.status_code == 403, action
        assert "csrf_rejected" in refused.text
        forged = client.post(action, data={"csrf_token": "x" * 43, **data})
        assert forged.status_code == 403, action
    assert load(runtime, rid).assignee_id is None


def test_api_keys_requests_write_keeps_everything_requests_open_cannot_erase(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    erasure = verified(runtime, person(runtime, "Cai"), "erasure")
    opener = {"Authorization": f"Bearer {make_key(['requests:open'], ['*'])}"}
    refused = client.post(f"/v1/requests/{erasure}/erasure", headers=opener)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert refused.json()["error"]["details"]["required_scope"] == "requests:execute"
    noted = client.post(f"/v1/requests/{erasure}/notes", headers=opener, json={"text": NOTE})
    assert noted.status_code == 201, noted.text
    card = {"text": "Paid with 4111 1111 1111 1111 last year."}  # a test card number
    refused_card = client.post(f"/v1/requests/{erasure}/notes", headers=opener, json=card)
    assert refused_card.status_code == 422
    assert refused_card.json()["error"]["code"] == "card_data_refused"
    listed = client.get(f"/v1/requests/{erasure}/notes", headers=opener)
    assert [n["text"] for n in listed.json()] == [NOTE]
    bad = client.put(f"/v1/requests/{erasure}/assignee", headers=opener,
                     json={"member_id": str(uuid.uuid4())})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "request_assignee_invalid"
    writer = {"Authorization": f"Bearer {make_key(['requests:write'], ['*'])}"}
    done = client.post(f"/v1/requests/{erasure}/erasure", headers=writer)
    assert done.status_code == 200, done.text
    assert NOTE not in done.text  # never in the certificate
    assert re.search(r"completed", load(runtime, erasure).status)
