"""Issue 17, items 4, 5 and 6, repeated as reported, through HTTP: what /me and the export
say is held, who received the data, and what is kept (and readable) after an erasure."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.access.rules import Actor
from safehold.comms.mail import SmtpMailer
from safehold.config import Settings
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.requests import jobs
from safehold.runtime import Runtime
from safehold.subjects import kept
from safehold.subjects.models import PersonalValue
from tests.e2e.conftest import MakeKey, audit_entries, bearer
from tests.e2e.test_privacy_center import post_form, sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, deliver_all, enqueue, register
from tests.integration.requests import support as requests_support

ACTOR = Actor("api_key", "iptv-backend")
EMAIL = "ada.quill@example.com"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def ada(runtime: Runtime) -> uuid.UUID:
    return register(runtime, "Ada Quill", EMAIL)


def _ingest(runtime: Runtime, sid: uuid.UUID, name: str, properties: dict[str, object]) -> None:
    at = runtime.clock.now() - timedelta(minutes=5)
    batch = BatchIn.model_validate({
        "context": {"ip": "198.51.100.23"},
        "events": [{"event_id": str(uuid.uuid4()), "subject_id": str(sid), "name": name,
                    "timestamp": at.isoformat(), "properties": properties}],
    })  # fmt: skip
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        events.ingest(session, ectx, batch, actor=ACTOR, received_at=runtime.clock.now())


def _section(page: str, label: str) -> str:
    """The /me section of one category, from its heading to the next."""
    found = re.search(rf"<h2[^>]*>{re.escape(label)}</h2>(.*?)</section>", page, re.S)
    assert found, f"no section {label!r} on the page"
    return found.group(1)


def _export(client: TestClient) -> dict[str, object]:
    assert post_form(client, "/me/export", {}).status_code == 303
    link = re.search(r'href="(/exports/[^"?]+)"', client.get("/me/export").text)
    assert link, "no download link on the page"
    data = client.get(link.group(1))
    assert data.status_code == 200
    body: dict[str, object] = data.json()
    return body


def test_item4_shortened_ips_are_said_to_be_held_on_me_and_in_the_export(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    _ingest(runtime, ada, "login", {"method": "password"})
    _ingest(runtime, ada, "app.open", {"screen": "home"})
    sign_in(client, runtime, smtp, EMAIL)
    what_we_hold = _section(client.get("/me").text, "IP address (shortened)")
    assert "Nothing." not in what_we_hold
    assert "2 shortened IP addresses" in what_we_hold
    body = _export(client)
    categories = {c["id"]: c for c in body["categories"]}  # type: ignore[attr-defined]
    assert categories["network.ip"]["held"] is True
    ips = [e["ip"] for e in body["events"]] + [x["ip"] for x in body["logins"]]  # type: ignore[attr-defined]
    assert ips == ["198.51.100.0/24", "198.51.100.0/24"]


def test_item5_the_mail_provider_is_shown_as_a_recipient_on_me_and_in_the_export(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    enqueue(runtime, "service_update", [ada], subject="Maintenance for {{ name }}")
    mailer = SmtpMailer.from_settings(runtime.settings)
    assert deliver_all(runtime, mailer).sent == 1
    mailer.close()
    sign_in(client, runtime, smtp, EMAIL)  # the sign-in code is an e-mail too
    provider = runtime.policy.recipient("email_delivery").name
    email_section = _section(client.get("/me").text, "E-mail address")
    assert "Nobody outside" not in email_section
    assert f"{provider} (processor, DE): with 2 e-mails we sent you" in email_section
    name_section = _section(client.get("/me").text, "Name")
    assert f"{provider} (processor, DE): with 2 e-mails we sent you" in name_section
    body = _export(client)
    categories = {c["id"]: c for c in body["categories"]}  # type: ignore[attr-defined]
    received = categories["account.email"]["recipients"]["received"]
    assert [(r["recipient"], r["kind"], r["count"]) for r in received] == [
        ("email_delivery", "in_service", 2)
    ]


def test_item6_what_an_erasure_kept_is_read_with_a_reference_and_nothing_else(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    billed = requests_support.person(runtime, "Ada")
    jobs.erase(
        runtime.sessions, requests_support.ctx(runtime), requests_support.verified(runtime, billed)
    )
    reader = bearer(make_key(["subjects:read"], ["legal_obligation", "service_provision"]))
    path = f"/v1/subjects/{billed}"
    answer = client.get(path, params={"purpose": "legal_obligation", "reference": "TA-2026-42"},
                        headers=reader)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["account.name"] == {"full_name": "Ada Example"}
    assert [m["last4"] for m in answer.json()["payment_methods"]] == ["4242"]
    missing = client.get(path, params={"purpose": "legal_obligation"}, headers=reader)
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "reference_required")
    other = client.get(path, params={"purpose": "service_provision", "reference": "x"},
                       headers=reader)  # fmt: skip
    assert (other.status_code, other.json()["error"]["code"]) == (410, "subject_erased")
    assert [e.outcome for e in audit_entries(runtime, kept.ACTION)] == ["partial"]

    writer = bearer(make_key(["disclosures:write"], ["legal_obligation"]))
    sent = client.post("/v1/disclosures", headers=writer, json={
        "recipient": "authorities", "purpose": "legal_obligation", "subjects": [str(billed)],
        "categories": ["account.name", "account.email"], "reference": "TA-2026-42",
    })  # fmt: skip
    assert sent.status_code == 201, sent.text
    [person] = sent.json()["people"]
    assert person["outcome"] == "disclosed"
    assert set(person["data"]) == {"account.name"}


def test_item6_a_person_never_billed_has_nothing_kept_for_tax_law(runtime: Runtime) -> None:
    never_billed = requests_support.person(runtime, "Bo", card=False)
    rid = requests_support.verified(runtime, never_billed)
    cert = jobs.erase(runtime.sessions, requests_support.ctx(runtime), rid)
    # Kept only: the address for the completion e-mail (decision 0028).
    assert [k["kind"] for k in cert["kept"]] == ["completion_mail"]
    assert [k["exception"] for k in cert["not_kept"]] == ["invoice_records"]
    with runtime.sessions() as session:
        left = session.scalars(
            select(PersonalValue).where(PersonalValue.subject_id == never_billed)
        ).all()
    assert left == []
