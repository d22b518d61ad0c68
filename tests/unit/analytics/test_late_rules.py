"""When a day is built, rebuilt and final: the pure rules behind the worker's choice, and
which events count as late."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.analytics import late, rules

DAY = date(2026, 2, 2)
END = datetime(2026, 2, 3, tzinfo=UTC)
offsets = st.timedeltas(timedelta(days=-1), timedelta(days=30))
graces = st.integers(1, 14).map(lambda d: timedelta(days=d))


def test_a_day_is_final_after_its_grace_period_not_before() -> None:
    assert not rules.is_final(DAY, END + timedelta(days=6, hours=23))
    assert rules.is_final(DAY, END + rules.GRACE_PERIOD)
    assert timedelta(days=7) == rules.GRACE_PERIOD
    assert rules.is_final(DAY, END + timedelta(days=2), grace=timedelta(days=2))


@given(built=offsets, now=offsets, grace=graces)
def test_needs_build(built: timedelta, now: timedelta, grace: timedelta) -> None:
    built_at, at = END + min(built, now), END + now
    final = rules.is_final(DAY, built_at, grace)
    due = rules.needs_build(DAY, built_at, final, at, grace)
    if final:
        assert not due  # a final day changes only through its late events
    elif at >= END + grace:
        assert due  # its final build is due
    elif built_at >= END + rules.SETTLE:
        assert not due  # built after its own day's events were in: nothing changes it
    else:
        assert due == (at - built_at > rules.REBUILD_EVERY)  # still receiving: hourly
    assert rules.needs_build(DAY, None, False, at, grace)  # never built


def test_only_events_of_an_earlier_day_are_late() -> None:
    received = datetime(2026, 2, 10, 0, 5, tzinfo=UTC)
    yesterday, today = uuid.uuid4(), uuid.uuid4()
    rows = late.late_days(
        received,
        [(yesterday, datetime(2026, 2, 9, 23, 59, tzinfo=UTC)),
         (today, datetime(2026, 2, 10, 0, 1, tzinfo=UTC))],
    )  # fmt: skip
    assert rows == [{"event_id": yesterday, "day": date(2026, 2, 9), "claimed": False}]
