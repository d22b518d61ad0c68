"""Roll-ups and reports against a real database, checked against a brute-force recount
over the raw events: no released row holds fewer than k people, objectors are not counted
after their objection, and every released number is the recount's (exact: the groups are
small enough for the sketches to be exact)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.analytics import reports, rules, service
from safehold.analytics.errors import ObjectionNotFound, PeriodNotFinal
from safehold.analytics.models import Rollup
from safehold.clock import FrozenClock
from safehold.events.models import Login
from safehold.policy import load_policy
from tests.conftest import DEFAULT_POLICY
from tests.integration.analytics.helpers import (
    KEY,
    Raw,
    Window,
    counted,
    object_,
    objecting,
    people,
    store,
)

ACTOR = Actor("admin", "test")
FEB = date(2026, 2, 1)
LATER = datetime(2026, 3, 10, tzinfo=UTC)  # February is final by then (7-day grace)
NAMES = ("channel.play", "guide.browse", "app.error", "vod.play")
PLATFORMS = (
    ("smart_tv", "Tizen", "5", "Samsung Internet", "2"),
    ("smart_tv", "Tizen", "6", "Samsung Internet", "2"),
    ("set_top_box", "Android", "9", "TiviMate", "4"),
    ("smartphone", "iOS", "17", "Mobile Safari", "17"),
    ("desktop", "Windows", "10", "Chrome", "120"),
    ("desktop", "Windows", "11", "Chrome", "120"),
)
POLICY = load_policy(DEFAULT_POLICY)

raw_events = st.lists(
    st.builds(
        Raw,
        person=st.integers(0, 24),
        name=st.sampled_from(NAMES),
        at=st.builds(
            lambda d, s: datetime(2026, 2, d, tzinfo=UTC) + timedelta(seconds=s),
            st.integers(1, 3),
            st.integers(0, 86_399),
        ),
        platform=st.sampled_from(PLATFORMS),
    ),
    max_size=120,
)
objections = st.dictionaries(
    st.integers(0, 24),
    st.builds(
        lambda h, w: (
            datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=h),
            None if w is None else datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=h + w),
        ),
        st.integers(0, 80),
        st.none() | st.integers(1, 40),  # withdrawn that many hours later, or still in force
    ),
    max_size=6,
)


def _ctx(at: datetime = LATER) -> service.Context:
    return service.Context(POLICY, FrozenClock(at), KEY)


def _setup(session: Session, events: list[Raw], objected: dict[int, Window]) -> list[object]:
    ids = people(session, 25)
    if events:
        store(session, ids, events)
    for person, (at, withdrawn) in objected.items():
        object_(session, ids[person], at, withdrawn)
    service.build_days(session, _ctx(), rules.month_days(FEB))
    return ids


def _owner(key: tuple[str, ...], released: set[tuple[str, ...]], parent: rules.Parent):
    """Which released row an original cell ended up in (None: withheld)."""
    while key is not None:
        if key in released:
            return key
        key = parent(key)
    return None


def _check_table(session: Session, kind: str, k: int, kept: list[Raw]) -> None:
    report = reports.table(session, k=k, kind=kind, month=FEB, actor=ACTOR, clock=_ctx().clock)  # type: ignore[arg-type]
    grain, parent, _ = reports.TABLES[kind]
    released = {tuple(r.values[f] for f in report.fields): r for r in report.rows}
    truth_people: dict[object, set[int]] = defaultdict(set)
    truth_events: dict[object, int] = defaultdict(int)
    for e in kept:
        key = (e.name,) if grain == rules.NAME else e.platform
        if kind in reports.DIMENSIONS:  # one dimension of the platform cell on its own
            key = (e.platform[reports.DIMENSIONS[kind][1]],)
        owner = _owner(key, set(released), parent)
        truth_people[owner].add(e.person)
        truth_events[owner] += 1
    for key, row in released.items():
        assert row.people is not None
        assert row.people >= k
        assert row.people == len(truth_people[key])  # the brute-force recount
        assert row.events == truth_events[key]
    assert report.withheld == (None in truth_people)
    if None in truth_people:  # what was withheld could not have made k even all together
        assert len(truth_people[None]) < k or not released


def _check_days(report: reports.Report, k: int, truth: Callable[[date], set[int]]) -> None:
    """Each day of a people series against the recount: its number at k or more, else none."""
    for row in report.rows:
        people = truth(date.fromisoformat(row.values["start"]))
        if len(people) >= k:
            assert row.people == len(people)
        else:
            assert row.people is None
            assert row.status == "suppressed"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=raw_events, objected=objections, k=st.integers(2, 6))
def test_reports_release_only_k_people_and_match_a_recount(
    session: Session, events: list[Raw], objected: dict[int, Window], k: int
) -> None:
    nested = session.begin_nested()
    try:
        _setup(session, events, objected)
        kept = counted(events, objected)
        for kind in ("features", "compatibility", *reports.DIMENSIONS):
            _check_table(session, kind, k, kept)
        active = reports.active_people(
            session, k=k, period="day", first=FEB, last=date(2026, 2, 3), actor=ACTOR,
            clock=_ctx().clock,
        )  # fmt: skip
        _check_days(active, k, lambda day: {e.person for e in kept if e.at.date() == day})
    finally:
        nested.rollback()


def test_each_dimension_is_released_where_the_crossed_cells_are_too_small(
    session: Session,
) -> None:
    """Six people on smart TVs, each with another browser version: no crossed cell reaches
    k=5, so the matrix shows only "(other)", but the device-type report shows smart TVs."""
    ids = people(session, 6)
    at = datetime(2026, 2, 2, 12, tzinfo=UTC)
    store(session, ids, [Raw(p, "channel.play", at, ("smart_tv", "Tizen", str(p), "Samsung "
                                                      f"Internet {p}", str(p)))
                         for p in range(6)])  # fmt: skip
    service.build_days(session, _ctx(), rules.month_days(FEB))
    matrix = reports.table(session, k=5, kind="compatibility", month=FEB, actor=ACTOR,
                           clock=_ctx().clock)  # fmt: skip
    assert [r.values["device_type"] for r in matrix.rows] == [rules.OTHER]
    types = reports.table(session, k=5, kind="device_types", month=FEB, actor=ACTOR,
                          clock=_ctx().clock)  # fmt: skip
    assert [(r.values, r.people, r.events) for r in types.rows] == [
        ({"device_type": "smart_tv"}, 6, 6)
    ]
    systems = reports.table(session, k=5, kind="operating_systems", month=FEB, actor=ACTOR,
                            clock=_ctx().clock)  # fmt: skip
    assert [(r.values, r.people) for r in systems.rows] == [({"os": "Tizen"}, 6)]
    browsers = reports.table(session, k=5, kind="browsers", month=FEB, actor=ACTOR,
                             clock=_ctx().clock)  # fmt: skip
    assert [r.values["browser"] for r in browsers.rows] == [rules.OTHER]  # six of one each


def test_objector_is_left_out_from_the_moment_of_objection(session: Session) -> None:
    ids = people(session, 12)
    noon = datetime(2026, 2, 2, 12, tzinfo=UTC)
    events = [Raw(p, "channel.play", noon - timedelta(hours=1), PLATFORMS[0]) for p in range(12)]
    events += [Raw(p, "vod.play", noon + timedelta(hours=1), PLATFORMS[0]) for p in range(12)]
    store(session, ids, events)
    object_(session, ids[0], noon)
    service.build_days(session, _ctx(), [date(2026, 2, 2)])
    rows = {
        r.cell: r for r in session.scalars(
            select(Rollup).where(Rollup.period == "day", Rollup.grain == rules.NAME)
        )
    }  # fmt: skip
    assert rows['["channel.play"]'].events == 12  # before the objection: counted
    assert rows['["vod.play"]'].events == 11  # after it: not
    assert rules.people(rules.load(rows['["vod.play"]'].people)) == 11


def test_a_withdrawn_objection_leaves_out_only_its_window(session: Session) -> None:
    """Objected at 10:00, withdrawn at 14:00 through the service: the events of 09:00 and
    15:00 count, the one of 12:00 does not; objecting again at 16:00 opens a new window."""
    ids = people(session, 1)
    day = datetime(2026, 2, 2, tzinfo=UTC)
    hours = (9, 12, 15, 17)
    store(session, ids, [Raw(0, f"n{h}", day + timedelta(hours=h), PLATFORMS[0]) for h in hours])
    for verb, hour in (("object", 10), ("withdraw", 14), ("object", 16)):
        clock = FrozenClock(day + timedelta(hours=hour))
        record = service.record_objection if verb == "object" else service.withdraw_objection
        record(session, subject_id=ids[0], purpose=rules.PURPOSE, actor=ACTOR, clock=clock)
    assert [o.withdrawn_at is None for o in service.history(session, ids[0])] == [False, True]
    assert service.objected_purposes(session, ids[0]) == {rules.PURPOSE}
    service.build_days(session, _ctx(), [date(2026, 2, 2)])
    cells = set(
        session.scalars(
            select(Rollup.cell).where(Rollup.period == "day", Rollup.grain == rules.NAME)
        )
    )
    assert cells == {'["n9"]', '["n15"]'}


def test_withdrawing_without_an_objection_in_force_is_refused(session: Session) -> None:
    ids = people(session, 1)
    clock = FrozenClock(LATER)
    with pytest.raises(ObjectionNotFound):
        service.withdraw_objection(
            session, subject_id=ids[0], purpose=rules.PURPOSE, actor=ACTOR, clock=clock
        )
    service.record_objection(
        session, subject_id=ids[0], purpose=rules.PURPOSE, actor=ACTOR, clock=clock
    )
    service.withdraw_objection(
        session, subject_id=ids[0], purpose=rules.PURPOSE, actor=ACTOR, clock=clock
    )
    with pytest.raises(ObjectionNotFound):  # twice: the second finds nothing in force
        service.withdraw_objection(
            session, subject_id=ids[0], purpose=rules.PURPOSE, actor=ACTOR, clock=clock
        )
    assert service.objected_purposes(session, ids[0]) == frozenset()


def test_rebuilding_a_day_replaces_it_and_roll_ups_outlive_the_events(session: Session) -> None:
    ids = people(session, 10)
    day = datetime(2026, 2, 2, 8, tzinfo=UTC)
    store(session, ids, [Raw(p, "guide.browse", day, PLATFORMS[3]) for p in range(10)])
    service.build_days(session, _ctx(), [day.date()])
    first = session.scalar(select(func.count()).select_from(Rollup))
    service.build_days(session, _ctx(), [day.date()])  # idempotent: the same rows again
    assert session.scalar(select(func.count()).select_from(Rollup)) == first
    from safehold.events import storage

    storage.drop_month(session, FEB)  # the raw month expires
    assert service.rollup_month(session, _ctx(), FEB) == 0  # final days are not rebuilt
    report = reports.table(session, k=10, kind="features", month=FEB, actor=ACTOR,
                           clock=_ctx().clock)  # fmt: skip
    assert [(r.values["event"], r.people, r.events) for r in report.rows] == [
        ("guide.browse", 10, 10)
    ]


def test_a_month_not_final_is_refused(session: Session) -> None:
    people(session, 1)
    service.build_days(session, _ctx(datetime(2026, 2, 10, tzinfo=UTC)), rules.month_days(FEB))
    with pytest.raises(PeriodNotFinal):
        reports.table(session, k=10, kind="features", month=FEB, actor=ACTOR,
                      clock=_ctx().clock)  # fmt: skip


def test_pending_days_follow_the_day_then_the_grace_period(session: Session) -> None:
    ids = people(session, 1)
    store(session, ids, [Raw(0, "app.error", datetime(2026, 2, 27, tzinfo=UTC), PLATFORMS[0])])
    now = datetime(2026, 3, 1, 6, tzinfo=UTC)
    assert service.build_pending(session, _ctx(now), max_days=100, now=now) == 29  # Feb 1…Mar 1
    # Feb 22…Mar 1 are not final yet (7-day grace), but were just built: nothing is due.
    assert service.pending_days(session, now) == []
    later = now + rules.REBUILD_EVERY + timedelta(seconds=1)
    # Feb 28 was built after its own events were all in: only a late event reopens it now.
    # Mar 1 (today) is still receiving its events: rebuilt hourly.
    assert service.pending_days(session, later) == [date(2026, 3, 1)]
    # Feb 22's grace ends on Mar 2: its final build is due then (and Mar 2's first).
    next_day = datetime(2026, 3, 2, 0, 1, tzinfo=UTC)
    due = [date(2026, 2, 22), date(2026, 3, 1), date(2026, 3, 2)]
    assert service.pending_days(session, next_day) == due


sign_ins = st.lists(
    st.tuples(
        st.integers(0, 24),
        st.builds(
            lambda d, s: datetime(2026, 2, d, tzinfo=UTC) + timedelta(seconds=s),
            st.integers(1, 3),
            st.integers(0, 86_399),
        ),
    ),
    max_size=80,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(logins=sign_ins, objected=objections, k=st.integers(2, 6))
def test_people_signed_in_per_day_release_only_k_and_match_a_recount(
    session: Session, logins: list[tuple[int, datetime]], objected: dict[int, Window], k: int
) -> None:
    nested = session.begin_nested()
    try:
        ids = people(session, 25)
        session.add_all(
            Login(id=uuid.uuid4(), subject_id=ids[who], logged_in_at=at, logged_out_at=None,
                  device_id=None, properties=None, logout_properties=None, ip=None)
            for who, at in logins
        )  # fmt: skip
        session.flush()
        for person, (at, withdrawn) in objected.items():
            object_(session, ids[person], at, withdrawn)
        service.build_days(session, _ctx(), rules.month_days(FEB))
        report = reports.signed_in_people(
            session, k=k, period="day", first=FEB, last=date(2026, 2, 3), actor=ACTOR,
            clock=_ctx().clock,
        )  # fmt: skip
        _check_days(report, k, lambda day: {
            who for who, at in logins
            if at.date() == day and not objecting(objected, who, at)
        })  # fmt: skip
    finally:
        nested.rollback()
