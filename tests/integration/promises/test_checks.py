"""`safehold promises` on a real database (SQLite and PostgreSQL): for every check, a
violation planted straight into the tables (past the services) is reported with its ids, and
the normal flows leave the promise held."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from safehold.clock import FrozenClock
from safehold.comms import preferences
from safehold.comms import rules as comms_rules
from safehold.comms.models import MarketingChoice, Message, OutboxItem
from safehold.db import transaction
from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.models import Login
from safehold.promises import service
from safehold.promises.rules import Result
from safehold.requests import extension
from safehold.requests import jobs as request_jobs
from safehold.requests.models import DataRequest
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime
from safehold.sharing import deliveries
from safehold.sharing.models import Disclosure, ServiceDelivery
from safehold.subjects import service as subjects
from safehold.subjects.models import PersonalValue, Subject
from safehold.vault.models import DataKey
from tests.e2e.conftest import alter_first_audit_entry
from tests.integration.requests.support import STAFF, ctx, open_request, person, verified


def _check(runtime: Runtime, check_id: str) -> Result:
    with runtime.sessions() as session:
        results = service.run(session, runtime.policy, runtime.clock.now())
    assert [r.id for r in results] == list(service.check_ids())
    return next(r for r in results if r.id == check_id)


def _violated(runtime: Runtime, check_id: str, *examples: str) -> Result:
    found = _check(runtime, check_id)
    assert not found.held, found
    assert found.count >= 1, found
    for example in examples:
        assert example in found.examples, (example, found.examples)
    return found


def _held(runtime: Runtime, check_id: str) -> None:
    found = _check(runtime, check_id)
    assert found.held, found
    assert found.count == 0, found


def _event_row(sid: uuid.UUID | None, at: datetime, *, ip: str | None = None) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4(), "occurred_at": at, "client_time": None, "received_at": at,
        "subject_id": sid, "anonymous_index": None if sid else "cd" * 32, "name": "play_start",
        "category": "usage.action", "properties": {}, "personal": None,
        "retention_class": None, "device_type": None, "os_family": None, "os_major": None,
        "browser_family": None, "browser_major": None, "is_bot": False, "ip": ip,
    }  # fmt: skip


def _plant_events(runtime: Runtime, *rows: dict[str, object]) -> None:
    with transaction(runtime.sessions) as session:
        months = {event_rules.month_start(r["occurred_at"]) for r in rows}  # type: ignore[arg-type]
        storage.ensure_months(session, months, runtime.clock.now())
        storage.insert_rows(session, rows)


def test_every_promise_holds_after_the_normal_flows(runtime: Runtime) -> None:
    sid = person(runtime)  # values, a card, a disclosure to the mail processor
    request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    person(runtime, "Bea")
    rid = open_request(runtime, person(runtime, "Cy"), "access")
    with transaction(runtime.sessions) as session:
        extension.extend(session, ctx(runtime), rid, actor=STAFF, reason="complexity",
                         extension="P1M")  # fmt: skip
    with runtime.sessions() as session:
        results = service.run(session, runtime.policy, runtime.clock.now())
    assert [r.id for r in results if not r.held] == []
    assert len(results) == len(service.CHECKS) >= 10


def test_an_event_past_its_retention_is_reported_until_the_run_drops_its_month(
    runtime: Runtime,
) -> None:
    old = runtime.clock.now() - timedelta(days=13 * 31 + 40)
    row = _event_row(None, old)
    _plant_events(runtime, row, _event_row(None, runtime.clock.now() - timedelta(days=2)))
    _violated(runtime, "retention.events", str(row["event_id"]))
    retention_jobs.run(runtime, before_drop=lambda _session, _month: None)
    _held(runtime, "retention.events")


def test_an_ip_address_past_its_period_is_reported_until_maintenance_clears_it(
    runtime: Runtime,
) -> None:
    now = runtime.clock.now()
    sid = person(runtime)
    stale = _event_row(sid, now - timedelta(days=40), ip="203.0.113.0/24")
    fresh = _event_row(sid, now - timedelta(days=3), ip="203.0.113.0/24")
    _plant_events(runtime, stale, fresh)
    login = uuid.uuid4()
    with transaction(runtime.sessions) as session:
        session.add(Login(id=login, subject_id=sid, logged_in_at=now - timedelta(days=35),
                          logged_out_at=None, device_id=None, properties=None,
                          logout_properties=None, ip="198.51.100.0/24"))  # fmt: skip
    found = _violated(runtime, "retention.ip_addresses", str(stale["event_id"]), str(login))
    assert found.count == 2
    assert str(fresh["event_id"]) not in found.examples
    with transaction(runtime.sessions) as session:
        events_jobs.expire_ips(session, runtime.policy, now)
    _held(runtime, "retention.ip_addresses")


def test_a_login_past_its_period_is_reported_until_the_retention_run(runtime: Runtime) -> None:
    sid = person(runtime)
    login = uuid.uuid4()
    with transaction(runtime.sessions) as session:
        session.add(Login(id=login, subject_id=sid,
                          logged_in_at=runtime.clock.now() - timedelta(days=370),
                          logged_out_at=None, device_id=None, properties=None,
                          logout_properties=None, ip=None))  # fmt: skip
    _violated(runtime, "retention.logins_and_devices", str(login))
    retention_jobs.run(runtime)
    _held(runtime, "retention.logins_and_devices")


def test_contact_details_past_closure_period_are_reported_until_the_run(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subjects.close(session, sctx, sid, actor=STAFF)
    _held(runtime, "retention.values_and_keys")
    with transaction(runtime.sessions) as session:  # closed 100 days ago (P90D + a day)
        session.execute(update(Subject).where(Subject.id == sid).values(
            closed_at=runtime.clock.now() - timedelta(days=100)))  # fmt: skip
    _violated(runtime, "retention.values_and_keys", str(sid))
    retention_jobs.run(runtime)
    _held(runtime, "retention.values_and_keys")


def test_a_marketing_email_sent_after_the_opt_out_is_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)  # opted in at sign-up
    now = clock.now()
    with transaction(runtime.sessions) as session:
        message = Message(
            id=uuid.uuid4(), kind="marketing", purpose=comms_rules.MARKETING, audience="ids",
            subject_template="News", text_template="News", html_template=None,
            created_at=now, created_by="test", policy_version="test",
        )  # fmt: skip
        session.add(message)
        session.flush()
        item = OutboxItem(
            id=uuid.uuid4(), message_id=message.id, subject_id=sid,
            purpose=comms_rules.MARKETING, status="sent", reason=None, attempts=1,
            next_attempt_at=now, claim_token=None, claimed_by=None,
            mail_message_id="<planted@example.com>", sent_at=now, created_at=now,
            updated_at=now,
        )  # fmt: skip
        session.add(item)
    _held(runtime, "marketing.after_opt_out")  # sent while opted in
    clock.advance(timedelta(hours=1))
    with transaction(runtime.sessions) as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        preferences.record_choice(
            session, subject=subject, choice=comms_rules.OPTED_OUT, channel="api", actor=STAFF,
            policy_version=None, clock=clock,
        )  # fmt: skip
    _held(runtime, "marketing.after_opt_out")  # the opt-out came after the sending
    with transaction(runtime.sessions) as session:  # planted: sent after the opt-out
        session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(
            sent_at=now + timedelta(hours=2)))  # fmt: skip
    _violated(runtime, "marketing.after_opt_out", str(item.id))
    with transaction(runtime.sessions) as session:  # and an opt-in after it does not excuse it
        session.add(MarketingChoice(
            id=uuid.uuid4(), subject_id=sid, choice=comms_rules.OPTED_IN,
            at=now + timedelta(hours=3), channel="api", actor="test", policy_version=None,
        ))  # fmt: skip
    _violated(runtime, "marketing.after_opt_out", str(item.id))


@pytest.mark.parametrize(
    "changes",
    [
        {"recipient_id": "a_recipient_nobody_declared"},
        {"categories": ["account.email", "usage.action"]},
        {"purpose": "communication.marketing"},
    ],
)
def test_a_disclosure_the_policy_does_not_allow_is_reported(
    runtime: Runtime, changes: dict[str, object]
) -> None:
    person(runtime)  # an allowed disclosure to the mail processor
    _held(runtime, "sharing.within_policy")
    with transaction(runtime.sessions) as session:
        planted = session.scalars(select(Disclosure.id)).one()
        session.execute(update(Disclosure).where(Disclosure.id == planted).values(**changes))
    _violated(runtime, "sharing.within_policy", str(planted))


def test_a_request_past_its_deadline_is_reported(runtime: Runtime, clock: FrozenClock) -> None:
    rid = open_request(runtime, person(runtime), "access")
    _held(runtime, "requests.deadlines")
    with transaction(runtime.sessions) as session:
        session.execute(update(DataRequest).where(DataRequest.id == rid).values(
            deadline_at=clock.now() - timedelta(minutes=1)))  # fmt: skip
    _violated(runtime, "requests.deadlines", str(rid))


def test_data_of_an_erased_person_beyond_the_certificate_is_reported(runtime: Runtime) -> None:
    sid = person(runtime)
    request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    _held(runtime, "erasure.only_what_the_certificate_keeps")
    with transaction(runtime.sessions) as session:  # planted: an e-mail row back, and a choice
        session.add(PersonalValue(
            subject_id=sid, category="account.email", field="email",
            retention_class="account_contact", ciphertext=b"\x00" * 40,
            updated_at=runtime.clock.now(), updated_by="test"))  # fmt: skip
    _violated(runtime, "erasure.only_what_the_certificate_keeps", str(sid))


def _completion(runtime: Runtime, sid: uuid.UUID) -> tuple[uuid.UUID, str, datetime]:
    """The erasure's completion e-mail row, its key class and the certificate's date."""
    request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    with runtime.sessions() as session:
        cert = session.scalars(select(DataRequest.certificate).where(
            DataRequest.subject_id == sid, DataRequest.kind == "erasure")).one()  # fmt: skip
    (entry,) = [k for k in cert["kept"] if k["kind"] == "completion_mail"]
    return uuid.UUID(entry["ref"]), entry["classes"][0], datetime.fromisoformat(entry["until"])


def test_the_completion_mail_key_is_accepted_only_while_the_mail_is_pending(
    runtime: Runtime, clock: FrozenClock
) -> None:
    check = "erasure.only_what_the_certificate_keeps"
    sid = person(runtime)
    item_id, klass, until = _completion(runtime, sid)
    _held(runtime, check)  # the key the certificate lists, its e-mail not yet sent
    clock.set(until)  # type: ignore[attr-defined]
    _violated(runtime, check, str(sid))  # past the date the certificate gives
    clock.set(until - timedelta(seconds=1))  # type: ignore[attr-defined]
    with transaction(runtime.sessions) as session:  # the row settled, its key planted back
        wrapped = session.get(DataKey, (sid, klass)).wrapped_key  # type: ignore[union-attr]
        session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(
            status="sent", sealed_recipient=None, sealed_secret=None, recipient_index=None,
        ))  # fmt: skip
    _violated(runtime, check, str(sid))
    with transaction(runtime.sessions) as session:  # key gone, but a sealed value left on the row
        session.execute(
            delete(DataKey).where(DataKey.subject_id == sid, DataKey.retention_class == klass)
        )
        session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(
            sealed_recipient=wrapped))  # fmt: skip
    _violated(runtime, check, str(sid))
    with transaction(runtime.sessions) as session:
        session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(
            sealed_recipient=None))  # fmt: skip
    _held(runtime, check)
    with transaction(runtime.sessions) as session:  # an address under that class as a value
        session.add(PersonalValue(
            subject_id=sid, category="account.email", field="email", retention_class=klass,
            ciphertext=b"\x00" * 40, updated_at=runtime.clock.now(), updated_by="test",
        ))  # fmt: skip
    _violated(runtime, check, str(sid))


def test_an_altered_audit_entry_is_reported(runtime: Runtime) -> None:
    person(runtime)
    _held(runtime, "audit.chain_intact")
    with transaction(runtime.sessions) as session:
        where = alter_first_audit_entry(session, outcome="refused")
    found = _violated(runtime, "audit.chain_intact", f"audit {where}")
    assert "altered" in found.notes[0]


def test_a_card_number_anywhere_in_the_database_is_reported_by_its_column(
    runtime: Runtime,
) -> None:
    person(runtime)
    _held(runtime, "carddata.none_stored")
    with transaction(runtime.sessions) as session:
        session.execute(update(Disclosure).values(reference="card 4111 1111 1111 1111"))
    found = _violated(runtime, "carddata.none_stored", "disclosures.reference")
    assert "4111" not in " ".join(found.examples + found.notes)


def test_an_in_service_delivery_the_policy_does_not_allow_is_reported(runtime: Runtime) -> None:
    sid = person(runtime)
    with transaction(runtime.sessions) as session:  # the normal flow: two e-mails handed over
        deliveries.record_mail(
            session, runtime.policy, [(sid, ["account.email"]), (sid, ["account.email"])],
            runtime.clock.now(),
        )  # fmt: skip
    _held(runtime, "sharing.within_policy")
    with transaction(runtime.sessions) as session:  # planted: the provider got usage data
        session.add(ServiceDelivery(
            subject_id=sid, recipient_id="email_delivery", purpose="service_provision",
            categories="account.email,usage.action", first_at=runtime.clock.now(),
            last_at=runtime.clock.now(), count=1,
        ))  # fmt: skip
    _violated(runtime, "sharing.within_policy", f"delivery to email_delivery of {sid}")
