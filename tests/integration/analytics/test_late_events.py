"""Late data in the roll-ups, on SQLite and PostgreSQL: a day is final only after its grace
period, an event that arrives after that reopens its day, and the next round counts it —
once, beside what the day had counted of people erased since — and the reports show the
day pending until then, and the rebuilt numbers after."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.analytics import late, reports, rules, service
from safehold.analytics.models import LateEvent, Rollup, RollupDay
from safehold.clock import FrozenClock
from safehold.events import storage
from safehold.policy import load_policy
from tests.conftest import DEFAULT_POLICY
from tests.integration.analytics.helpers import KEY, Raw, arrive_late, people, store

ACTOR = Actor("admin", "test")
DAY = date(2026, 2, 2)
AT = datetime(2026, 2, 2, 20, tzinfo=UTC)
FINAL = datetime(2026, 2, 12, tzinfo=UTC)  # past Feb 2's 7-day grace
TV = ("smart_tv", "Tizen", "6", "Samsung Internet", "2")
POLICY = load_policy(DEFAULT_POLICY)


def _ctx(at: datetime) -> service.Context:
    return service.Context(POLICY, FrozenClock(at), KEY)


def _roll_up(session: Session, at: datetime) -> None:
    """The worker's rounds until it is idle (it must get there: late events are consumed)."""
    for _ in range(10):
        if not service.build_pending(session, _ctx(at), max_days=31, now=at):
            return
    raise AssertionError("the roll-ups never ran out of work")


def _active(session: Session, k: int = 10) -> reports.Row:
    report = reports.active_people(
        session, k=k, period="day", first=DAY, last=DAY, actor=ACTOR, clock=FrozenClock(FINAL)
    )
    (row,) = report.rows
    return row


def _day_all(session: Session) -> Rollup:
    return session.scalars(
        select(Rollup).where(Rollup.period == "day", Rollup.start == DAY, Rollup.grain == rules.ALL)
    ).one()


def test_a_day_is_final_only_after_the_grace_period(session: Session) -> None:
    ids = people(session, 10)
    store(session, ids, [Raw(p, "channel.play", AT, TV) for p in range(10)])
    _roll_up(session, datetime(2026, 2, 5, tzinfo=UTC))  # three days after: not final
    assert _active(session).status == "pending"
    _roll_up(session, FINAL)
    assert (_active(session).status, _active(session).people) == ("released", 10)


def test_a_late_event_reopens_a_final_day_and_the_next_round_counts_it(session: Session) -> None:
    ids = people(session, 11)
    store(session, ids, [Raw(0, "channel.play", AT, TV)])
    _roll_up(session, FINAL)
    assert _active(session).status == "suppressed"  # one person: final, below k
    # Ten set-top boxes come back online a fortnight later with that evening's events.
    later = FINAL + timedelta(days=4)
    arrive_late(session, ids, [Raw(p, "vod.play", AT, TV) for p in range(1, 11)], later)
    assert _active(session).status == "pending"  # reopened: no number until rebuilt
    assert session.get(RollupDay, DAY).final  # type: ignore[union-attr]  # built final
    _roll_up(session, later)
    row = _active(session)
    assert (row.status, row.people) == ("released", 11)
    assert _day_all(session).events == 11
    assert session.scalar(select(func.count()).select_from(LateEvent)) == 0
    _roll_up(session, later + timedelta(hours=2))  # nothing more to do: counted once
    assert _day_all(session).events == 11


def test_a_final_day_keeps_counting_people_erased_since_when_late_events_come(
    session: Session,
) -> None:
    ids = people(session, 11)
    store(session, ids, [Raw(p, "channel.play", AT, TV) for p in range(10)])
    _roll_up(session, FINAL)
    gone = ids[0]  # erased: their events are deleted
    storage.for_each_month(session, lambda t: delete(t).where(t.c.subject_id == gone))
    arrive_late(session, ids, [Raw(10, "channel.play", AT, TV)], FINAL + timedelta(days=1))
    _roll_up(session, FINAL + timedelta(days=1))
    row = _active(session)
    assert (row.status, row.people) == ("released", 11)  # 10 counted before, 1 late
    assert _day_all(session).events == 11


def test_a_late_event_of_a_day_not_final_yet_is_counted_once(session: Session) -> None:
    ids = people(session, 10)
    store(session, ids, [Raw(p, "channel.play", AT, TV) for p in range(9)])
    soon = datetime(2026, 2, 4, tzinfo=UTC)
    _roll_up(session, soon)
    arrive_late(session, ids, [Raw(9, "channel.play", AT, TV)], soon)
    _roll_up(session, soon)  # the reopened day is rebuilt whole
    assert _day_all(session).events == 10
    _roll_up(session, FINAL)  # the final build: the same events, not the late one twice
    assert _day_all(session).events == 10
    assert (_active(session).status, _active(session).people) == ("released", 10)


def test_a_late_event_stored_after_the_round_claimed_waits_for_the_next_round(
    session: Session,
) -> None:
    ids = people(session, 2)
    store(session, ids, [Raw(0, "channel.play", AT, TV)])
    _roll_up(session, FINAL)
    arrive_late(session, ids, [Raw(1, "channel.play", AT, TV)], FINAL)
    late.claim(session, [DAY])  # a round begins ...
    arrive_late(session, ids, [Raw(1, "vod.play", AT, TV)], FINAL)  # ... a batch commits
    whole = service._scan(session, _ctx(FINAL), DAY, DAY)  # the round's reads
    only_claimed = service._scan(session, _ctx(FINAL), DAY, DAY, take="late")
    names = {cell for (grain, cell) in whole[DAY] if grain == rules.NAME}
    assert names == {'["channel.play"]'}  # the unclaimed one is not in this round
    assert only_claimed[DAY][(rules.ALL, "[]")].events == 1
    late.forget(session)
    assert session.scalars(select(LateEvent.claimed)).all() == [False]  # kept for the next


arrivals = st.lists(
    st.tuples(
        st.integers(0, 11),  # who
        st.integers(1, 3),  # which day of February
        st.integers(0, 3),  # which wave brings it (0: on time)
    ),
    min_size=1,  # nothing at all: no month, nothing to roll up
    max_size=40,
)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(events=arrivals)
def test_whatever_arrives_late_every_day_ends_with_a_recount(
    session: Session, events: list[tuple[int, int, int]]
) -> None:
    """Waves of late events between rounds at random moments, before and after the grace
    period: every day's counts end as the brute-force recount (no event lost or doubled)."""
    nested = session.begin_nested()
    try:
        ids = people(session, 12)
        waves = [
            datetime(2026, 2, 4, 12, tzinfo=UTC),  # before the days are final
            datetime(2026, 2, 9, tzinfo=UTC),  # Feb 1 final, Feb 2…3 not yet
            datetime(2026, 2, 20, tzinfo=UTC),  # all final
            datetime(2026, 3, 1, tzinfo=UTC),
        ]
        for wave, at in enumerate(waves):
            batch = [
                Raw(who, "channel.play", datetime(2026, 2, d, 10, i, tzinfo=UTC), TV)
                for i, (who, d, w) in enumerate(events) if w == wave
            ]  # fmt: skip
            if wave == 0:
                store(session, ids, batch)
            else:
                arrive_late(session, ids, batch, at)
            _roll_up(session, at)
        for d in (1, 2, 3):
            day = date(2026, 2, d)
            truth = [who for who, dd, _ in events if dd == d]
            row = session.scalars(
                select(Rollup).where(
                    Rollup.period == "day", Rollup.start == day, Rollup.grain == rules.ALL
                )
            ).one_or_none()
            assert (row.events if row else 0) == len(truth)
            assert (rules.people(rules.load(row.people)) if row else 0) == len(set(truth))
            assert session.get(RollupDay, day).final  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(LateEvent)) == 0
    finally:
        nested.rollback()
