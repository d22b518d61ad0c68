"""Use cases: recording objections, and building the roll-ups from the raw events.

A day is built from the month partitions (``events``) and the login history (``logins``):
only people's events (no anonymous devices, no bots), never those of restricted or erased
people, and never an event while the person's objection to ``platform_improvement`` was in
force (from ``objected_at``, up to ``withdrawn_at`` when it was withdrawn).
Rebuilding a day replaces its rows, so building is idempotent; a day built long enough after
it ended (the grace period) is final and is not rebuilt again (its numbers survive erasure
and expiry) — but an event that arrives later for it (``late.py``) reopens it, and the next
round adds that event to its rows without recounting the rest. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import late, rules
from safehold.analytics.errors import ObjectionNotFound
from safehold.analytics.models import Objection, Rollup, RollupDay
from safehold.clock import Clock
from safehold.events import storage
from safehold.events.models import Login
from safehold.policy import Policy
from safehold.subjects.models import Subject

EXCLUDED_STATUSES = ("restricted", "erased")  # Art. 18 restriction; erasure


@dataclass(frozen=True)
class Context:
    policy: Policy
    clock: Clock
    person_key: bytes  # rules.person_key(vault index key)
    grace: timedelta = rules.GRACE_PERIOD  # after a day ends, until its roll-up is final


# --- objections -----------------------------------------------------------------------------


def objected_purposes(session: Session, subject_id: uuid.UUID) -> frozenset[str]:
    """The purposes a person objects to now: their open objections."""
    rows = session.scalars(
        select(Objection.purpose).where(
            Objection.subject_id == subject_id, Objection.withdrawn_at.is_(None)
        )
    )
    return frozenset(rows)


def open_objection(session: Session, subject_id: uuid.UUID, purpose: str) -> Objection | None:
    """The person's objection to ``purpose`` in force now, if any."""
    return session.scalar(
        select(Objection).where(
            Objection.subject_id == subject_id,
            Objection.purpose == purpose,
            Objection.withdrawn_at.is_(None),
        )
    )


def history(session: Session, subject_id: uuid.UUID) -> list[Objection]:
    """Every objection the person made, open or withdrawn, oldest first."""
    return list(
        session.scalars(
            select(Objection)
            .where(Objection.subject_id == subject_id)
            .order_by(Objection.objected_at, Objection.id)
        )
    )


def record_objection(
    session: Session, *, subject_id: uuid.UUID, purpose: str, actor: Actor, clock: Clock
) -> Objection:
    """Record that the person objects to ``purpose`` from now on (the caller has checked the
    purpose is objectable and the person exists). Objecting while an objection is in force
    keeps it (and its first time); objecting after a withdrawal opens a new one."""
    session.execute(select(Subject.id).where(Subject.id == subject_id).with_for_update())
    existing = open_objection(session, subject_id, purpose)
    if existing is not None:
        return existing
    objection = Objection(
        id=uuid.uuid4(),
        subject_id=subject_id,
        purpose=purpose,
        objected_at=clock.now(),
        actor=str(actor)[:120],
    )
    session.add(objection)
    audit.record(
        session, actor=actor, action="subject.object", subject_id=subject_id, categories=(),
        purpose=purpose, outcome="ok", clock=clock,
    )  # fmt: skip
    session.flush()
    return objection


def withdraw_objection(
    session: Session, *, subject_id: uuid.UUID, purpose: str, actor: Actor, clock: Clock
) -> Objection:
    """End the person's objection to ``purpose`` now (:class:`ObjectionNotFound` when none
    is in force). The row stays, closed: the purpose applies again from this moment, and the
    roll-ups keep leaving out what happened while it was in force."""
    session.execute(select(Subject.id).where(Subject.id == subject_id).with_for_update())
    objection = open_objection(session, subject_id, purpose)
    if objection is None:
        raise ObjectionNotFound(
            "the person has no objection to this purpose in force", details={"purpose": purpose}
        )
    objection.withdrawn_at = clock.now()
    objection.withdrawn_by = str(actor)[:120]
    audit.record(
        session, actor=actor, action="subject.object.withdraw", subject_id=subject_id,
        categories=(), purpose=purpose, outcome="ok", clock=clock,
    )  # fmt: skip
    session.flush()
    return objection


# --- building -------------------------------------------------------------------------------


@dataclass
class _Slot:
    events: int = 0
    errors: int = 0
    people: set[int] = field(default_factory=set)


Acc = dict[tuple[str, str], _Slot]  # (grain, cell) -> counts and the people's hashes


def _add(acc: Acc, grain: str, cell: tuple[str, ...], person: int, error: bool) -> None:
    slot = acc.setdefault((grain, rules.cell_text(cell)), _Slot())
    slot.events += 1
    slot.errors += int(error)
    slot.people.add(person)


def _not_objected(subject_col: Any, time_col: Any) -> ColumnElement[bool]:
    """No objection to ``platform_improvement`` of the person was in force at ``time_col``:
    each objection covers [objected_at, withdrawn_at), open-ended while not withdrawn."""
    covering = exists().where(
        Objection.subject_id == subject_col,
        Objection.purpose == rules.PURPOSE,
        Objection.objected_at <= time_col,
        or_(Objection.withdrawn_at.is_(None), time_col < Objection.withdrawn_at),
    )
    return ~covering


Take = Literal["all", "late"]  # a full rebuild, or only this round's claimed late events


def _taken(take: Take, event_id: Any) -> ColumnElement[bool]:
    return late.claimed(event_id) if take == "late" else late.settled(event_id)


def _scan(
    session: Session, ctx: Context, first: date, last: date, take: Take = "all"
) -> dict[date, Acc]:
    """One pass over the events and logins of ``first``..``last``, cut into days: all of
    them but late events claimed after this round began, or (``late``) only those claimed."""
    start, end = rules.day_bounds(first)[0], rules.day_bounds(last)[1]
    e = storage.EVENTS
    event_rows = session.execute(
        select(
            e.c.subject_id,
            e.c.name,
            e.c.occurred_at,
            e.c.device_type,
            e.c.os_family,
            e.c.os_major,
            e.c.browser_family,
            e.c.browser_major,
        )
        .join(Subject, Subject.id == e.c.subject_id)
        .where(
            e.c.occurred_at >= start,
            e.c.occurred_at < end,
            e.c.subject_id.isnot(None),
            e.c.is_bot.is_(False),
            Subject.status.notin_(EXCLUDED_STATUSES),
            _not_objected(e.c.subject_id, e.c.occurred_at),
            _taken(take, e.c.event_id),
        )
    )
    hashes: dict[uuid.UUID, int] = {}
    days: dict[date, Acc] = defaultdict(dict)

    def person(subject_id: uuid.UUID) -> int:
        if subject_id not in hashes:
            hashes[subject_id] = rules.person_hash(ctx.person_key, subject_id)
        return hashes[subject_id]

    for sid, name, at, device, os, os_major, browser, browser_major in event_rows:
        acc, p, error = days[at.date()], person(sid), rules.is_error(name)
        _add(acc, rules.ALL, (), p, error)
        _add(acc, rules.NAME, (name,), p, error)
        cell = rules.platform_cell(device, os, os_major, browser, browser_major)
        _add(acc, rules.PLATFORM, cell, p, error)
    login_rows = session.execute(
        select(Login.subject_id, Login.logged_in_at)
        .join(Subject, Subject.id == Login.subject_id)
        .where(
            Login.logged_in_at >= start,
            Login.logged_in_at < end,
            Subject.status.notin_(EXCLUDED_STATUSES),
            _not_objected(Login.subject_id, Login.logged_in_at),
            _taken(take, Login.id),
        )
    )
    for sid, at in login_rows:
        acc, p = days[at.date()], person(sid)
        _add(acc, rules.ALL, (), p, False)
        _add(acc, rules.LOGIN_HOUR, (f"{at.hour:02d}",), p, False)
    return days


def build_days(session: Session, ctx: Context, days: Iterable[date]) -> int:
    """(Re)build the roll-ups of ``days`` (one scan per month), refresh their months'
    roll-ups; returns the events and logins counted. A day not final yet is rebuilt whole
    (its rows replaced); a final day only takes in its late events, added to its rows, so
    what it counted of people erased or data expired since stays counted."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    now = ctx.clock.now()
    late.claim(session, wanted)
    final = set(
        session.scalars(
            select(RollupDay.day)
            .where(RollupDay.day.in_(wanted), RollupDay.final.is_(True))
            .with_for_update()  # two workers never add the same late events twice
        )
    )
    by_month: dict[date, list[date]] = defaultdict(list)
    for day in wanted:
        by_month[rules.month_start(day)].append(day)
    counted = 0
    for month, month_days in sorted(by_month.items()):
        whole = [d for d in month_days if d not in final]
        if whole:
            counted += _replace(session, ctx, whole, now)
        added = [d for d in month_days if d in final]
        if added:
            counted += _add_late(session, ctx, added, now)
        session.flush()
        _build_month(session, month)
    late.forget(session)
    session.flush()
    return counted


def _replace(session: Session, ctx: Context, days: list[date], now: datetime) -> int:
    """Rebuild ``days`` (of one month) whole."""
    scanned = _scan(session, ctx, days[0], days[-1])
    session.execute(delete(Rollup).where(Rollup.period == "day", Rollup.start.in_(days)))
    session.execute(delete(RollupDay).where(RollupDay.day.in_(days)))
    counted = 0
    for day in days:
        acc = scanned.get(day, {})
        total = _total(acc)
        counted += total
        session.add_all(_rows("day", day, acc))
        final = rules.is_final(day, now, ctx.grace)
        session.add(RollupDay(day=day, built_at=now, final=final, events=total))
    return counted


def _add_late(session: Session, ctx: Context, days: list[date], now: datetime) -> int:
    """Add the claimed late events of final ``days`` (of one month) to their rows: counts
    added, sketches merged (a person already counted that day is not counted twice)."""
    scanned = _scan(session, ctx, days[0], days[-1], take="late")
    counted = 0
    for day in days:
        acc = scanned.get(day, {})
        rows = {
            (r.grain, r.cell): r
            for r in session.scalars(
                select(Rollup).where(Rollup.period == "day", Rollup.start == day)
            )
        }
        for (grain, cell), slot in sorted(acc.items()):
            row = rows.get((grain, cell))
            if row is None:
                session.add(_rows("day", day, {(grain, cell): slot})[0])
                continue
            row.events += slot.events
            row.errors += slot.errors
            row.people = rules.dump(
                rules.merge((rules.load(row.people), rules.new_sketch(slot.people)))
            )
        total = _total(acc)
        counted += total
        built = session.get(RollupDay, day)
        assert built is not None  # final days are built days
        built.built_at, built.events = now, built.events + total
    return counted


def _total(acc: Acc) -> int:
    return sum(v.events for (g, _), v in acc.items() if g == rules.ALL)


def _rows(period: str, start: date, acc: Acc) -> list[Rollup]:
    return [
        Rollup(
            period=period,
            start=start,
            grain=grain,
            cell=cell,
            events=v.events,
            errors=v.errors,
            people=rules.dump(rules.new_sketch(v.people)),
        )
        for (grain, cell), v in sorted(acc.items())
    ]


def _build_month(session: Session, month: date) -> None:
    """The month's roll-up: its days merged per cell, and logins by weekday."""
    days = rules.month_days(month)
    merged: dict[tuple[str, str], list[Rollup]] = defaultdict(list)
    for row in session.scalars(
        select(Rollup).where(Rollup.period == "day", Rollup.start.in_(days))
    ):
        merged[(row.grain, row.cell)].append(row)
        if row.grain == rules.LOGIN_HOUR:
            weekday = (rules.WEEKDAYS[row.start.weekday()],)
            merged[(rules.LOGIN_WEEKDAY, rules.cell_text(weekday))].append(row)
    session.execute(delete(Rollup).where(Rollup.period == "month", Rollup.start == month))
    session.add_all(
        Rollup(
            period="month",
            start=month,
            grain=grain,
            cell=cell,
            events=sum(r.events for r in rows),
            errors=sum(r.errors for r in rows),
            people=rules.dump(rules.merge(rules.load(r.people) for r in rows)),
        )
        for (grain, cell), rows in sorted(merged.items())
    )


def pending_days(session: Session, now: datetime, grace: timedelta = rules.GRACE_PERIOD) -> list[
    date
]:  # fmt: skip
    """Days up to today that need building (``rules.needs_build``), and every day reopened
    by late events, oldest first. From the first month that has a partition or a login on."""
    firsts = list(storage.months(session)[:1])
    first_login = session.scalar(select(Login.logged_in_at).order_by(Login.logged_in_at).limit(1))
    if first_login is not None:
        firsts.append(rules.month_start(first_login.date()))
    reopened = late.days_with_late(session)
    if not firsts:
        return sorted(reopened)
    built = {
        day: (built_at, final)
        for day, built_at, final in session.execute(
            select(RollupDay.day, RollupDay.built_at, RollupDay.final)
        )
    }
    day, out = min(firsts), []
    while day <= now.date():
        built_at, final = built.get(day, (None, False))
        if day in reopened or rules.needs_build(day, built_at, final, now, grace):
            out.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return sorted(set(out) | reopened)


def rollup_month(session: Session, ctx: Context, month: date) -> int:
    """Aggregate-then-delete: build every not-yet-final day of ``month``, and take in the
    late events of its final ones, before the retention run drops its partition
    (``events.jobs.drop_expired_months(before_drop=…)``)."""
    days = rules.month_days(month)
    final = set(
        session.scalars(
            select(RollupDay.day).where(and_(RollupDay.final.is_(True), RollupDay.day.in_(days)))
        )
    )
    reopened = late.open_days(session, days[0], days[-1])
    return build_days(session, ctx, [d for d in days if d not in final or d in reopened])


def build_pending(session: Session, ctx: Context, *, max_days: int, now: datetime) -> int:
    """Build up to ``max_days`` pending days (oldest first); returns the days built."""
    days = pending_days(session, now, ctx.grace)[:max_days]
    build_days(session, ctx, days)
    return len(days)
