"""Events that arrive late, as ingestion stores them: no address already past its retention
is ever written (the row holds none from the first moment), and events of a day that had
ended are recorded for the analytics roll-ups in the batch's own transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.models import AuditEntry
from safehold.analytics.models import LateEvent
from safehold.events import jobs, service
from safehold.events.models import Login
from safehold.events.schemas import BatchIn
from safehold.policy.document import FullIpRules, IpMode
from safehold.runtime import Runtime
from tests.integration.events.conftest import ACTOR, Person, Send, address, stored

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ADDRESS = {"ip": "203.0.113.7"}


def play(subject: uuid.UUID, at: datetime, name: str = "channel.play") -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "subject_id": str(subject), "name": name,
            "timestamp": at.isoformat(), "properties": {}}  # fmt: skip


def test_a_backdated_event_past_the_ip_period_is_stored_without_its_address(
    session: Session, person: Person, send: Send, runtime: Runtime
) -> None:
    ada = person()
    send(
        [play(ada, NOW - timedelta(days=40)), play(ada, NOW - timedelta(days=10)),
         play(ada, NOW - timedelta(days=40), "login")],
        context=ADDRESS,
    )  # fmt: skip
    rows = stored(session, subject_id=ada)
    kept = [address(session, runtime.vault, r) for r in rows]
    assert kept == [None, "203.0.113.0/24"]  # 40 days old: none; 10: kept
    assert [address(session, runtime.vault, login) for login in session.scalars(select(Login))] == [
        None
    ]
    # Nothing was left for the maintenance round: it was done at ingestion.
    assert jobs.expire_ips(session, runtime.policy, NOW) == 0


def test_the_audit_entry_does_not_claim_an_address_that_was_not_stored(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    send([play(ada, NOW - timedelta(days=40))], context=ADDRESS)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "events.ingest")).one()
    assert "network.ip" not in entry.categories


def test_an_address_that_would_expire_before_the_next_round_is_not_stored(
    session: Session, person: Person, send: Send, runtime: Runtime
) -> None:
    ada = person()
    almost = NOW - timedelta(days=30) + timedelta(minutes=30)  # expires in half an hour
    fine = NOW - timedelta(days=30) + timedelta(hours=2)
    send([play(ada, almost), play(ada, fine)], context=ADDRESS)
    kept = [address(session, runtime.vault, r) for r in stored(session, subject_id=ada)]
    assert kept == [None, "203.0.113.0/24"]


def test_whole_addresses_past_their_own_period_are_not_stored_either(
    session: Session, person: Person, runtime: Runtime
) -> None:
    events = runtime.policy.events
    full = events.ip.model_copy(
        update={"mode": IpMode.FULL, "full": FullIpRules(purpose="service_provision", period="P7D")}
    )
    policy = runtime.policy.model_copy(update={"events": events.model_copy(update={"ip": full})})
    ctx = service.Context(runtime.vault, policy, runtime.clock)
    ada = person()
    batch = BatchIn.model_validate(
        {"context": ADDRESS,
         "events": [play(ada, NOW - timedelta(days=8)), play(ada, NOW - timedelta(days=1))]}
    )  # fmt: skip
    service.ingest(session, ctx, batch, actor=ACTOR, received_at=NOW)
    kept = [address(session, runtime.vault, r) for r in stored(session, subject_id=ada)]
    assert kept == [None, "203.0.113.7"]
    assert jobs.expire_ips(session, policy, NOW) == 0


def test_events_of_a_day_that_had_ended_are_recorded_for_the_roll_ups(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    earlier = play(ada, NOW - timedelta(days=3))
    sign_in = play(ada, NOW - timedelta(days=2), "login")
    send([earlier, play(ada, NOW - timedelta(minutes=5)), sign_in])
    rows = session.execute(select(LateEvent.event_id, LateEvent.day, LateEvent.claimed)).all()
    assert sorted((str(r[0]), r[1], r[2]) for r in rows) == sorted(
        [(earlier["event_id"], date(2026, 2, 27), False),
         (sign_in["event_id"], date(2026, 2, 28), False)]
    )  # fmt: skip


def test_live_traffic_records_nothing_late(session: Session, person: Person, send: Send) -> None:
    ada = person()
    send([play(ada, NOW - timedelta(minutes=m)) for m in (1, 30, 60)])
    assert session.scalars(select(LateEvent)).all() == []


def test_anonymous_events_a_late_sign_in_makes_a_persons_reopen_their_day(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    before = NOW - timedelta(days=3, hours=1)
    anonymous = {"event_id": str(uuid.uuid4()), "anonymous_id": "box-7f3a", "name": "app.open",
                 "timestamp": before.isoformat(), "properties": {}}  # fmt: skip
    send([anonymous])  # anonymous: not counted, so not recorded
    assert session.scalars(select(LateEvent)).all() == []
    sign_in = {**play(ada, NOW - timedelta(days=3), "login"), "anonymous_id": "box-7f3a"}
    send([sign_in])
    days = {str(r[0]): r[1] for r in session.execute(select(LateEvent.event_id, LateEvent.day))}
    assert days == {anonymous["event_id"]: before.date(), sign_in["event_id"]: date(2026, 2, 27)}
