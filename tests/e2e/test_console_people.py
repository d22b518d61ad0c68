"""The console's person page over HTTP (issue 20, item 16; decision 0033): a look-up by
e-mail or phone keeps what was typed, shows the person's requests, marketing choice,
devices and holds under the scopes and purposes the API asks for the same reads, audits
each read as the API does, and opens a request or places a hold on their behalf."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.client import new_event_id
from safehold.clock import FrozenClock
from safehold.comms.models import OutboxItem
from safehold.db import transaction
from safehold.requests.models import DataRequest
from safehold.retention.models import LegalHold
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_console import post, staff

PHONE = "+44 20 7946 0321"  # Ofcom's London range for drama: fictional
TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager"
)


def viewer(runtime: Runtime, client: TestClient, make_key: MakeKey) -> uuid.UUID:
    """Gwen, with an e-mail address, a phone number, marketing said yes, and a smart TV
    (from an event sent through the API as the service's back end sends it)."""
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        sid = subjects.register(
            session, ctx, actor=Actor("admin", "test"), marketing_opt_in=True,
            policy_version="test",
            contact=subject_rules.contact(name="Gwen Example", email="gwen@example.com",
                                          phone=PHONE),
        ).id  # fmt: skip
    sender = bearer(make_key(["events:write"], name="iptv-backend"))
    now = runtime.clock.now()
    sent = client.post("/v1/events", headers=sender, json={
        "sent_at": now.isoformat(), "context": {"user_agent": TV},
        "events": [{"event_id": str(new_event_id()), "subject_id": str(sid),
                    "name": "channel.play", "timestamp": now.isoformat()}],
    })  # fmt: skip
    assert sent.status_code == 202, sent.text
    assert sent.json()["accepted"] == 1
    return sid


def entries(runtime: Runtime, sid: uuid.UUID) -> list[AuditEntry]:
    with runtime.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.subject_id == sid).order_by(AuditEntry.seq)
        return list(session.scalars(query))


def test_a_phone_look_up_shows_the_whole_person_and_audits_each_read(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = viewer(runtime, client, make_key)
    staff(client, make_key)  # every scope, every purpose
    before = len(entries(runtime, sid))
    page = post(client, "/admin/people", "/admin/people",
                {"contact": "+44 20 7946 0321", "purpose": "service_provision"})  # fmt: skip
    assert page.status_code == 200, page.text
    assert 'value="+44 20 7946 0321"' in page.text  # the query stays in its field
    assert str(sid) in page.text
    assert "<td>gwen@example.com</td>" in page.text
    for heading in ("Requests", "Marketing e-mails", "Devices", "Legal holds"):
        assert f"<h3>{heading}</h3>" in page.text
    assert "No request from this person." in page.text
    assert "Said yes" in page.text  # the marketing choice in force
    assert "Smart TV" in page.text  # the device, in words
    assert "No legal hold on this person's data." in page.text
    assert 'action="/admin/people/' + str(sid) + '/requests"' in page.text
    assert 'action="/admin/people/' + str(sid) + '/holds"' in page.text
    made = {(e.action, e.purpose, e.outcome) for e in entries(runtime, sid)[before:]}
    assert made == {
        ("subject.lookup", "service_provision", "ok"),
        ("subject.read", "service_provision", "allowed"),
        ("marketing.read", "service_provision", "ok"),
        ("events.devices.read", "service_provision", "allowed"),
    }
    looked = [e for e in entries(runtime, sid) if e.action == "subject.lookup"]
    assert looked[-1].categories == ["account.phone"]  # found by the phone's blind index


def test_a_malformed_or_unknown_number_is_said_next_to_the_field(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    viewer(runtime, client, make_key)
    staff(client, make_key)
    local = post(client, "/admin/people", "/admin/people",
                 {"contact": "020 7946 0321", "purpose": "service_provision"})  # fmt: skip
    assert local.status_code == 422
    assert 'id="f-contact-error"' in local.text
    assert 'value="020 7946 0321"' in local.text
    nobody = post(client, "/admin/people", "/admin/people",
                  {"contact": "+44 20 7946 0999", "purpose": "service_provision"})  # fmt: skip
    assert nobody.status_code == 404
    assert "No person has that phone number." in nobody.text


def test_a_narrow_key_sees_what_its_scopes_and_purposes_allow_and_is_told_the_rest(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = viewer(runtime, client, make_key)
    staff(client, make_key, ["subjects:read"], ["communication.service"])
    before = len(entries(runtime, sid))
    page = post(client, "/admin/people", "/admin/people",
                {"contact": "gwen@example.com", "purpose": "communication.service"})  # fmt: skip
    assert page.status_code == 200, page.text
    assert "does not hold the scope requests:open" in page.text
    assert "does not hold the scope holds:write" in page.text
    assert "may not use the purpose service_provision" in page.text  # the marketing read's
    assert "Smart TV" not in page.text  # communication may not see devices: refused, said
    refused = re.search(r"<h3>Devices</h3>\s*<p class=\"muted\">([^<]+)</p>", page.text)
    assert refused, "the devices part says why it is not shown"
    assert "rule" in refused.group(1)
    assert "Act for this person" not in page.text  # no action this key may take
    made = {(e.action, e.outcome) for e in entries(runtime, sid)[before:]}
    assert made == {("subject.lookup", "ok"), ("subject.read", "partial"),
                    ("events.devices.read", "refused")}  # fmt: skip
    gone = post(
        client,
        "/admin/people",
        f"/admin/people/{sid}/requests",
        {"purpose": "communication.service", "kind": "access", "channel": "phone"},
    )
    assert gone.status_code == 403
    assert "<h1>This page needs the scope requests:open</h1>" in gone.text


def test_staff_open_a_request_on_the_persons_behalf(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = viewer(runtime, client, make_key)
    staff(client, make_key)
    action = f"/admin/people/{sid}/requests"
    page = f"/admin/people/{sid}?purpose=service_provision"
    missing = post(client, page, action, {"purpose": "service_provision", "kind": "",
                                          "channel": "phone"})  # fmt: skip
    assert missing.status_code == 422
    assert 'id="f-kind-error"' in missing.text
    assert '<option value="phone" selected>' in missing.text  # the form as it was sent
    no_use = post(client, page, action, {"purpose": "service_provision", "kind": "objection",
                                         "channel": "email"})  # fmt: skip
    assert no_use.status_code == 422
    assert 'id="f-objected-error"' in no_use.text
    opened = post(client, page, action, {"purpose": "service_provision", "kind": "access",
                                         "channel": "phone"})  # fmt: skip
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert re.fullmatch(r"/admin/requests/[0-9a-f-]{36}\?done=opened", location)
    shown = client.get(location)
    assert "The request was opened and the person e-mailed a code" in shown.text
    with runtime.sessions() as session:
        request = session.scalars(select(DataRequest).where(DataRequest.subject_id == sid)).one()
        assert (request.kind, request.channel, request.made_by) == ("access", "phone", "staff")
        assert request.status == "received"
        code_mail = session.scalars(
            select(OutboxItem).where(OutboxItem.subject_id == sid)
        ).all()  # the code e-mail, queued as the API's request queues it
        assert code_mail
    made = [e for e in entries(runtime, sid) if e.action.startswith("request.")]
    assert [e.action for e in made] == ["request.create.access", "request.code.send"]
    assert all(e.actor.startswith("api_key:") for e in made)
    person = client.get(page)
    assert f'href="/admin/requests/{request.id}"' in person.text  # now on their page


def test_staff_place_a_legal_hold_from_the_persons_page(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = viewer(runtime, client, make_key)
    staff(client, make_key)
    action = f"/admin/people/{sid}/holds"
    page = f"/admin/people/{sid}?purpose=service_provision"
    today = runtime.clock.now().date()
    empty = post(client, page, action, {"purpose": "service_provision", "reason": "",
                                        "legal_basis": "", "until": ""})  # fmt: skip
    assert empty.status_code == 422
    for name in ("categories", "reason", "legal_basis", "until"):
        assert f'id="f-{name}-error"' in empty.text, name
    past = post(client, page, action, {
        "purpose": "service_provision", "categories": "account.payment",
        "reason": "Chargeback case CB-1", "legal_basis": "Contract claims",
        "until": (today - timedelta(days=1)).isoformat(),
    })  # fmt: skip
    assert past.status_code == 422
    assert 'id="f-until-error"' in past.text
    assert 'value="Chargeback case CB-1"' in past.text  # kept to correct the date
    until = today + timedelta(days=365)
    placed = client.post(action, follow_redirects=False, data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', past.text).group(1),
        "purpose": "service_provision", "categories": ["account.payment", "account.name"],
        "reason": "Chargeback case CB-1", "legal_basis": "Contract claims",
        "until": until.isoformat(),
    })  # fmt: skip
    assert placed.status_code == 303
    assert placed.headers["location"] == (
        f"/admin/people/{sid}?done=hold_placed&purpose=service_provision"
    )
    with runtime.sessions() as session:
        hold = session.scalars(select(LegalHold).where(LegalHold.subject_id == sid)).one()
    assert hold.categories == ["account.name", "account.payment"]
    assert hold.until.replace(tzinfo=UTC) == datetime.combine(until, time(23, 59, 59), UTC)
    assert [e.action for e in entries(runtime, sid) if e.action.startswith("hold.")] == [
        "hold.place"
    ]
    shown = client.get(placed.headers["location"])
    assert shown.status_code == 200
    assert "The legal hold was placed." in shown.text
    assert "Chargeback case CB-1" in shown.text
    assert "In force" in shown.text


def test_the_person_page_by_id_needs_a_purpose_the_key_holds(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = viewer(runtime, client, make_key)
    staff(client, make_key, ["subjects:read"], ["communication.service"])
    assert client.get(f"/admin/people/{sid}").status_code == 422
    refused = client.get(f"/admin/people/{sid}?purpose=service_provision")
    assert refused.status_code == 403
    assert "purpose_not_allowed" in refused.text
    assert client.get(f"/admin/people/{sid}?purpose=communication.service").status_code == 200


def test_a_shared_number_lists_the_people_to_choose_from_and_reads_nobody_yet(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    gwen = viewer(runtime, client, make_key)
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(minutes=1))  # Hal's account is the newer one: listed second
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        hal = subjects.register(
            session, ctx, actor=Actor("admin", "test"), marketing_opt_in=False,
            policy_version="test",
            contact=subject_rules.contact(name="Hal Example", email="hal@example.com",
                                          phone=PHONE),
        ).id  # fmt: skip
    staff(client, make_key)
    page = post(client, "/admin/people", "/admin/people",
                {"contact": PHONE, "purpose": "service_provision"})  # fmt: skip
    assert page.status_code == 200, page.text
    assert "2 people have this phone number" in page.text
    assert f'value="{PHONE}"' in page.text
    links = re.findall(r'href="(/admin/people/[0-9a-f-]{36}\?purpose=service_provision)"',
                       page.text)  # fmt: skip
    assert links == [f"/admin/people/{gwen}?purpose=service_provision",
                     f"/admin/people/{hal}?purpose=service_provision"]  # fmt: skip
    assert "gwen@example.com" not in page.text  # nobody's data is read before a choice
    for sid in (gwen, hal):
        assert [e.action for e in entries(runtime, sid) if e.actor.startswith("api_key:")
                and e.action.startswith("subject.")] == ["subject.lookup"]  # fmt: skip
    chosen = client.get(links[1])
    assert chosen.status_code == 200
    assert "<td>hal@example.com</td>" in chosen.text
    assert [e.action for e in entries(runtime, hal) if e.action == "subject.read"] == [
        "subject.read"
    ]
