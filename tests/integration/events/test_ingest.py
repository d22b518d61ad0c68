"""Ingesting batches against a real database (SQLite, and PostgreSQL when configured):
what is stored, what is refused per event, idempotency, and what the policy decides."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safehold.access.models import AuditEntry
from safehold.events import service
from safehold.events.models import Login, SubjectDevice
from safehold.events.schemas import BatchIn
from safehold.runtime import Runtime
from safehold.subjects.models import Subject
from tests.integration.events.conftest import (
    ACTOR,
    MAG,
    TIZEN,
    Person,
    Send,
    address,
    statuses,
    stored,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def play(subject: uuid.UUID, **extra: object) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "subject_id": str(subject),
        "name": "channel.play",
        "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
        "properties": {"channel_id": "news-1", "duration_s": 120},
        **extra,
    }


def test_events_are_stored_minimised_in_their_month(
    session: Session, person: Person, send: Send, ctx: service.Context
) -> None:
    ada = person()
    search = {
        **play(ada),
        "name": "guide.search",
        "properties": {"query": "Quillfeather cooking show", "results": 4},
    }
    outcomes = send(
        [play(ada), search],
        context={"user_agent": TIZEN, "ip": "203.0.113.77",
                 "client_hints": {"Sec-CH-UA-Platform": '"Tizen"'}},
    )  # fmt: skip
    assert statuses(outcomes) == ["accepted", "accepted"]
    rows = stored(session, subject_id=ada)
    assert len(rows) == 2
    row = next(r for r in rows if r["name"] == "guide.search")
    assert row["occurred_at"] == NOW - timedelta(minutes=5)
    assert row["category"] == "usage.action"
    assert (row["device_type"], row["os_family"], row["os_major"]) == ("smart_tv", "Tizen", "5")
    assert (row["browser_family"], row["browser_major"]) == ("Samsung Internet", "3")
    assert address(session, ctx.vault, row) == "203.0.113.0/24"
    assert row["properties"] == {"results": 4}  # the dimension, plain
    # The search text is personal: encrypted under Ada's usage key for the month it was
    # filed under (a month epoch, decision 0043), never in plain text.
    assert b"Quillfeather" not in row["personal"]
    text = ctx.vault.decrypt(
        session, ada, row["retention_class"], "usage.action", "properties", row["personal"]
    )
    assert json.loads(text) == {"query": "Quillfeather cooking show"}
    assert row["retention_class"] == f"usage_events@{row['month']:%Y-%m}"
    # The raw User-Agent is kept nowhere in the row.
    assert not any("Mozilla" in str(value) for r in rows for value in r.values())


def test_a_retried_batch_is_stored_exactly_once(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    batch = [play(ada) for _ in range(5)]
    assert statuses(send(batch)) == ["accepted"] * 5
    again = send(batch)
    assert statuses(again) == ["duplicate"] * 5
    assert [o.event_id for o in again] == [uuid.UUID(str(e["event_id"])) for e in batch]
    assert len(stored(session, subject_id=ada)) == 5


def test_a_batch_mixing_retried_and_new_events_stores_only_the_new_ones(
    session: Session, person: Person, send: Send
) -> None:
    # On PostgreSQL the batch's straight COPY is refused at the unique key and the batch goes
    # the keyed way, inside the same transaction: nothing of the refused COPY stays.
    ada = person()
    first = [play(ada) for _ in range(3)]
    assert statuses(send(first)) == ["accepted"] * 3
    mixed = [first[1], play(ada), first[0], play(ada)]
    assert statuses(send(mixed)) == ["duplicate", "accepted", "duplicate", "accepted"]
    rows = stored(session, subject_id=ada)
    assert sorted(str(r["event_id"]) for r in rows) == sorted(
        str(e["event_id"]) for e in [*first, mixed[1], mixed[3]]
    )


def test_an_id_twice_in_one_batch_is_one_event(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    event = play(ada)
    assert statuses(send([event, event])) == ["accepted", "duplicate"]
    assert len(stored(session, subject_id=ada)) == 1


def test_events_without_ids_get_time_ordered_ones(person: Person, send: Send) -> None:
    ada = person()
    first, second = send([{**play(ada), "event_id": None}, {**play(ada), "event_id": None}])
    assert first.event_id is not None
    assert second.event_id is not None
    assert first.event_id.version == 7
    assert first.event_id < second.event_id


def test_one_bad_event_does_not_sink_the_batch(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    ahead = (NOW + timedelta(hours=2)).isoformat()
    batch = [
        play(ada),
        {**play(ada), "name": "channel.zap"},
        {**play(ada), "properties": {"channel_id": "x", "favourite_colour": "teal"}},
        {**play(ada), "properties": {"channel_id": "x" * 5000}},
        {**play(ada), "timestamp": ahead},
        {**play(ada), "timestamp": "1999-12-31T23:00:00Z"},
        {**play(ada), "timestamp": (NOW - timedelta(days=500)).isoformat()},
        {**play(ada), "subject_id": str(uuid.uuid4())},
        {**play(ada), "subject_id": None},
        {**play(ada), "timestamp": "yesterday"},
        {**play(ada), "properties": ["not", "an", "object"]},
        {**play(ada), "colour": "teal"},
        "not an object",
        {**play(ada), "timestamp": "2026-03-02T09:00:00"},  # no UTC offset
        play(ada),
    ]
    outcomes = send(batch)
    assert statuses(outcomes) == [
        "accepted",
        "event_name_not_allowed",
        "property_not_allowed",
        "properties_too_large",
        "timestamp_in_future",
        "timestamp_too_old",
        "outside_retention",
        "unknown_subject",
        "subject_required",
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "accepted",
    ]
    assert len(stored(session, subject_id=ada)) == 2
    invalid = outcomes[9].refusal
    assert invalid is not None
    assert invalid.details["fields"][0]["location"] == "timestamp"
    assert "yesterday" not in str(invalid.details)
    assert outcomes[7].event_id == uuid.UUID(str(batch[7]["event_id"]))  # type: ignore[index]


def test_an_erased_person_is_never_recorded_again(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    late = play(ada)
    session.execute(update(Subject).where(Subject.id == ada).values(status="erased"))
    assert statuses(send([late])) == ["subject_erased"]
    assert stored(session, subject_id=ada) == []
    assert session.scalar(select(func.count()).select_from(SubjectDevice)) == 0


def test_a_closed_account_is_refused_by_the_policy(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    session.execute(update(Subject).where(Subject.id == ada).values(status="closed"))
    (outcome,) = send([play(ada)])
    assert outcome.refusal is not None
    assert outcome.refusal.reason.value == "purpose_refused"
    assert outcome.refusal.details == {"rule": "subject.closed"}


def test_client_clock_skew_is_corrected_and_the_clients_time_kept(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    # A set-top box whose clock says 1970: the event happened 2 minutes before sending.
    box_time = datetime(1970, 1, 1, 0, 10, tzinfo=UTC)
    event = {**play(ada), "timestamp": box_time.isoformat()}
    sent = box_time + timedelta(minutes=2)
    assert statuses(send([event], sent_at=sent)) == ["accepted"]
    (row,) = stored(session, subject_id=ada)
    assert row["occurred_at"] == NOW - timedelta(minutes=2)
    assert row["client_time"] == box_time
    assert row["received_at"] == NOW


def test_logins_make_a_history_with_devices_and_last_activity(
    session: Session, person: Person, send: Send, ctx: service.Context
) -> None:
    ada = person()
    t = NOW - timedelta(hours=3)
    send(
        [
            {"subject_id": str(ada), "name": "login", "timestamp": t.isoformat(),
             "properties": {"method": "password"}},
            {**play(ada), "timestamp": (t + timedelta(minutes=1)).isoformat()},
            {"subject_id": str(ada), "name": "logout", "properties": {"reason": "user"},
             "timestamp": (t + timedelta(hours=1)).isoformat()},
        ],
        context={"user_agent": MAG, "ip": "2001:db8:abcd:12::1"},
    )  # fmt: skip
    (login,) = session.scalars(select(Login).where(Login.subject_id == ada))
    assert login.logged_in_at == t
    assert login.logged_out_at == t + timedelta(hours=1)
    assert login.properties == {"method": "password"}
    assert login.logout_properties == {"reason": "user"}
    assert address(session, ctx.vault, login) == "2001:db8:abcd::/48"
    device = session.get(SubjectDevice, (ada, login.device_id))
    assert device is not None
    assert (device.device_type, device.browser_family) == ("set_top_box", "MAG portal")
    assert (device.first_seen_at, device.last_seen_at) == (t, t + timedelta(hours=1))
    # Sign-ins live in the login history only, not among the month's events.
    assert [r["name"] for r in stored(session, subject_id=ada)] == ["channel.play"]
    subject = session.get(Subject, ada)
    assert subject is not None
    assert subject.last_activity_at == NOW  # registered "now"; never moved backwards


def test_a_device_is_counted_once_per_person(session: Session, person: Person, send: Send) -> None:
    ada, bo = person(), person("Bo Tumbleweed")
    for at in (NOW - timedelta(days=2), NOW - timedelta(days=1)):
        send([play(ada, timestamp=at.isoformat()), play(bo, timestamp=at.isoformat())],
             context={"user_agent": TIZEN})  # fmt: skip
    rows = session.scalars(select(SubjectDevice).order_by(SubjectDevice.subject_id)).all()
    assert len(rows) == 2
    for device in rows:
        assert device.first_seen_at == NOW - timedelta(days=2)
        assert device.last_seen_at == NOW - timedelta(days=1)


def test_bots_are_flagged(session: Session, person: Person, send: Send) -> None:
    ada = person()
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    send([play(ada)], context={"user_agent": googlebot})
    (row,) = stored(session, subject_id=ada)
    assert row["is_bot"] is True
    assert row["device_type"] == "bot"


def test_every_batch_audits_each_person_once(session: Session, person: Person, send: Send) -> None:
    ada, bo = person(), person("Bo Tumbleweed")
    send([play(ada), play(ada), play(bo)], context={"user_agent": TIZEN, "ip": "198.51.100.4"})
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "events.ingest").order_by(AuditEntry.seq)
    ).all()
    assert sorted(e.subject_id for e in entries) == sorted([ada, bo])  # type: ignore[type-var]
    assert all(
        e.categories == ["device.info", "network.ip", "usage.action"]
        and e.purpose == "service_provision"
        for e in entries
    )


@pytest.mark.parametrize("setting", ["drop_ua", "drop_ip"])
def test_the_policy_can_keep_no_device_or_no_address(
    session: Session, person: Person, runtime: Runtime, setting: str
) -> None:
    events = runtime.policy.events
    changed = (
        events.model_copy(update={"user_agent": "drop"})
        if setting == "drop_ua"
        else events.model_copy(update={"ip": events.ip.model_copy(update={"mode": "drop"})})
    )
    policy = runtime.policy.model_copy(update={"events": changed})
    ctx = service.Context(runtime.vault, policy, runtime.clock)
    ada = person()
    batch = BatchIn.model_validate(
        {"context": {"user_agent": TIZEN, "ip": "203.0.113.9"}, "events": [play(ada)]}
    )
    service.ingest(session, ctx, batch, actor=ACTOR, received_at=NOW)
    (row,) = stored(session, subject_id=ada)
    if setting == "drop_ua":
        assert row["device_type"] is None
        assert address(session, ctx.vault, row) == "203.0.113.0/24"
    else:
        assert row["device_type"] == "smart_tv"
        assert row["ip"] is None
        assert row["ip_sealed"] is None
