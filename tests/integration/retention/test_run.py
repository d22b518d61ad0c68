"""The retention run on a real database: closure + period, holds, months, crash, re-run."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.events import service as events
from safehold.events import storage
from safehold.events.models import Login
from safehold.events.schemas import BatchIn
from safehold.retention import classes, jobs
from safehold.retention import service as holds
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.subjects.models import PaymentMethod, PersonalValue
from safehold.vault.errors import DataKeyDestroyed
from tests.integration.requests.support import STAFF, person


def _events(runtime: Runtime, sid: uuid.UUID, at: datetime, names: list[str]) -> None:
    ctx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    batch = BatchIn.model_validate(
        {
            "events": [
                {"subject_id": str(sid), "name": n, "timestamp": at.isoformat(), "properties": {}}
                for n in names
            ]
        }
    )
    with transaction(runtime.sessions) as session:
        outcomes = events.ingest(session, ctx, batch, actor=STAFF, received_at=at)
    assert {o.status for o in outcomes} == {"accepted"}, [(o.refusal, o.details) for o in outcomes]


def _close(runtime: Runtime, sid: uuid.UUID) -> None:
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subjects.close(session, sctx, sid, actor=STAFF)


def _values(runtime: Runtime, sid: uuid.UUID) -> set[tuple[str, str]]:
    with runtime.sessions() as session:
        rows = session.scalars(select(PersonalValue).where(PersonalValue.subject_id == sid))
        return {(r.category, r.retention_class) for r in rows}


def _line(report: jobs.Report, category: str, klass: str) -> dict[str, object]:
    found = [x for x in report.as_dict()["categories"]
             if x["category"] == category and x["retention_class"] == klass]  # fmt: skip
    assert found, (category, klass)
    return found[0]


def _key_gone(runtime: Runtime, sid: uuid.UUID, klass: str) -> bool:
    with runtime.sessions() as session:
        try:
            runtime.vault.data_key(session, sid, klass, create=False)
        except DataKeyDestroyed:
            return True
        return False


class Rollup:
    """A fake analytics roll-up: records the months it was asked to aggregate."""

    def __init__(self) -> None:
        self.months: list[date] = []

    def __call__(self, _session: Session, month: date) -> None:
        self.months.append(month)


def test_unattended_run_across_closure_and_period(runtime: Runtime, clock: FrozenClock) -> None:
    sid = person(runtime)
    other = person(runtime, "Bea")
    _events(runtime, sid, clock.now(), ["channel.play", "login"])
    _close(runtime, sid)

    clock.advance(timedelta(days=89))
    early = jobs.run(runtime)
    assert _values(runtime, sid) >= {("account.email", "account_contact")}
    assert _line(early, "account.email", "account_contact")["deleted"] == 0

    clock.advance(timedelta(days=2))  # 91 days after closure: contact details are due
    report = jobs.run(runtime)
    assert _values(runtime, sid) == {
        ("account.name", "invoice_records"),
        ("account.address", "invoice_records"),
    }
    assert _key_gone(runtime, sid, "account_contact")
    assert not _key_gone(runtime, other, "account_contact")  # Bea's account is open
    email = _line(report, "account.email", "account_contact")
    assert (email["deleted"], email["people"]) == (1, 1)
    assert _line(report, "account.email", "account_contact")["action"] == "shred_and_delete"
    # The processor token's period (120 days) has not ended yet.
    with runtime.sessions() as session:
        assert (
            session.scalars(
                select(PaymentMethod.token).where(PaymentMethod.subject_id == sid)
            ).one()
            != b""
        )

    clock.advance(timedelta(days=30))
    jobs.run(runtime)
    assert _key_gone(runtime, sid, "payment")
    with runtime.sessions() as session:
        assert (
            session.scalars(
                select(PaymentMethod.token).where(PaymentMethod.subject_id == sid)
            ).one()
            == b""
        )

    # A year and more later: login history and the event month are due too.
    clock.advance(timedelta(days=400))
    rollup = Rollup()
    report = jobs.run(runtime, before_drop=rollup)
    assert date(2026, 3, 1) in rollup.months  # (with the empty months made ahead)
    assert "2026-03" in _line(report, "usage.action", "usage_events")["months_dropped"]  # type: ignore[operator]
    assert _line(report, "usage.action", "usage_events")["deleted"] == 1
    with runtime.sessions() as session:
        assert date(2026, 3, 1) not in storage.months(session)
        assert session.scalar(select(func.count()).where(Login.subject_id == sid)) == 0
    assert _line(report, "usage.login", "login_history")["deleted"] == 1

    # Idempotent: a second run finds nothing to do.
    rolled = list(rollup.months)
    assert jobs.run(runtime, before_drop=rollup).work == 0
    assert rollup.months == rolled


def test_without_a_rollup_aggregate_months_are_kept_and_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    _events(runtime, sid, clock.now(), ["channel.play"])
    clock.advance(timedelta(days=500))
    report = jobs.run(runtime)
    line = _line(report, "usage.action", "usage_events")
    assert line["months_dropped"] == []
    assert "no analytics roll-up" in " ".join(line["notes"])  # type: ignore[arg-type]
    with runtime.sessions() as session:
        assert date(2026, 3, 1) in storage.months(session)


def test_a_legal_hold_keeps_exactly_what_it_names(runtime: Runtime, clock: FrozenClock) -> None:
    sid = person(runtime)
    bystander = person(runtime, "Cy")
    _events(runtime, sid, clock.now(), ["channel.play"])
    _events(runtime, bystander, clock.now(), ["channel.play"])
    _close(runtime, sid)
    with transaction(runtime.sessions) as session:
        hold = holds.place(
            session, policy=runtime.policy, clock=runtime.clock, actor=STAFF, subject_id=sid,
            categories=["account.email", "usage.action"], reason="Case 2026-17 (fictional)",
            legal_basis="Litigation hold", until=clock.now() + timedelta(days=900),
        )  # fmt: skip
    clock.advance(timedelta(days=500))
    report = jobs.run(runtime, before_drop=Rollup())
    # The held category's class keeps its key; its other categories' rows are deleted.
    assert not _key_gone(runtime, sid, "account_contact")
    assert ("account.email", "account_contact") in _values(runtime, sid)
    assert ("account.phone", "account_contact") not in _values(runtime, sid)
    held = _line(report, "account.email", "account_contact")["held_back"]
    assert [h["hold_id"] for h in held] == [str(hold.id)]  # type: ignore[index]
    assert held[0]["reason"] == "Case 2026-17 (fictional)"  # type: ignore[index]
    # The month is kept for the held rows only; the bystander's event is gone.
    events_line = _line(report, "usage.action", "usage_events")
    assert events_line["deleted"] == 1
    assert events_line["held_back"][0]["rows"] == 1  # type: ignore[index]
    with runtime.sessions() as session:
        left = session.execute(select(storage.EVENTS.c.subject_id)).scalars().all()
    assert left == [sid]
    again = jobs.run(runtime, before_drop=Rollup())
    assert again.work == 0

    # Lifted: the next run deletes what the hold kept.
    with transaction(runtime.sessions) as session:
        holds.lift(session, hold.id, clock=runtime.clock, actor=STAFF)
    jobs.run(runtime, before_drop=Rollup())
    assert _key_gone(runtime, sid, "account_contact")
    with runtime.sessions() as session:
        assert date(2026, 3, 1) not in storage.months(session)


def test_dry_run_changes_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    sid = person(runtime)
    _close(runtime, sid)
    clock.advance(timedelta(days=91))
    before = _values(runtime, sid)
    report = jobs.run(runtime, dry_run=True)
    assert _line(report, "account.email", "account_contact")["deleted"] == 1
    assert _values(runtime, sid) == before
    assert not _key_gone(runtime, sid, "account_contact")


class Crash(Exception):
    pass


def test_crash_mid_run_then_resume(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [person(runtime, f"P{i}") for i in range(5)]
    for sid in people:
        _close(runtime, sid)
    clock.advance(timedelta(days=91))
    monkeypatch.setattr(classes.rules, "BATCH", 2)
    real = classes._expire_person
    calls = 0

    def crashing(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # in the second batch: the first batch is committed
            raise Crash
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(classes, "_expire_person", crashing)
    with pytest.raises(Crash):
        jobs.run(runtime)
    gone = [sid for sid in people if _key_gone(runtime, sid, "account_contact")]
    assert len(gone) == 2  # the committed batch
    monkeypatch.setattr(classes, "_expire_person", real)
    report = jobs.run(runtime)
    assert all(_key_gone(runtime, sid, "account_contact") for sid in people)
    assert _line(report, "account.email", "account_contact")["people"] == 3
    assert jobs.run(runtime).work == 0
    assert datetime(2026, 1, 1, tzinfo=UTC) < clock.now()
