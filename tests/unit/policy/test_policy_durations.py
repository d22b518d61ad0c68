"""Calendar durations: month-end clamping, monotonicity, comparison and words."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.policy.durations import (
    compare_durations,
    duration_in_words,
    parse_duration,
)
from safehold.policy.rules import add_duration

# Hypothesis wants naive bounds; the generated values get the UTC zone.
EARLIEST = datetime(1900, 1, 1)  # noqa: DTZ001
LATEST = datetime(2200, 12, 31)  # noqa: DTZ001
moments = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC))


@st.composite
def durations(draw: st.DrawFn) -> str:
    years = draw(st.integers(0, 40))
    months = draw(st.integers(0, 30))
    days = draw(st.integers(0, 800))
    hours = draw(st.integers(0, 48))
    return f"P{years}Y{months}M{days}DT{hours}H"


@pytest.mark.parametrize(
    ("start", "iso", "end"),
    [
        (datetime(2025, 1, 31, tzinfo=UTC), "P1M", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 31, tzinfo=UTC), "P1M", datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), "P1Y", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), "P13M", datetime(2025, 4, 30, tzinfo=UTC)),
        (datetime(2025, 11, 30, tzinfo=UTC), "P2M", datetime(2026, 1, 30, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), "P1M1D", datetime(2025, 3, 1, tzinfo=UTC)),
        (datetime(2025, 3, 2, 9, 30, tzinfo=UTC), "P30D", datetime(2025, 4, 1, 9, 30, tzinfo=UTC)),
        (datetime(2025, 3, 2, tzinfo=UTC), "PT36H", datetime(2025, 3, 3, 12, tzinfo=UTC)),
    ],
)
def test_add_duration_examples(start: datetime, iso: str, end: datetime) -> None:
    assert add_duration(start, iso) == end


def test_add_duration_keeps_the_time_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    result = add_duration(datetime(2025, 1, 31, 23, 0, tzinfo=plus_two), "P1M")
    assert result == datetime(2025, 2, 28, 23, 0, tzinfo=plus_two)
    assert result.tzinfo is plus_two


@given(moments, st.integers(0, 600))
def test_months_clamp_to_the_end_of_the_target_month(start: datetime, months: int) -> None:
    end = add_duration(start, f"P{months}M")
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == min(start.day, calendar.monthrange(end.year, end.month)[1])
    assert end.time() == start.time()


@given(moments, moments, durations())
def test_add_duration_is_monotonic(first: datetime, second: datetime, iso: str) -> None:
    early, late = sorted((first, second))
    assert add_duration(early, iso) <= add_duration(late, iso)


@given(moments, durations())
def test_a_duration_never_goes_backwards(start: datetime, iso: str) -> None:
    end = add_duration(start, iso)
    assert end >= start
    if not parse_duration(iso).is_zero:
        assert end > start


@given(moments, st.integers(0, 50))
def test_years_are_twelve_months(start: datetime, years: int) -> None:
    assert add_duration(start, f"P{years}Y") == add_duration(start, f"P{years * 12}M")


@given(moments, st.integers(0, 5000))
def test_days_are_exact(start: datetime, days: int) -> None:
    assert add_duration(start, f"P{days}D") == start + timedelta(days=days)


@pytest.mark.parametrize(
    ("old", "new", "order"),
    [
        ("P12M", "P1Y", 0),
        ("P1Y", "P13M", 1),
        ("P13M", "P1Y", -1),
        ("P30D", "P1M", None),  # longer in 31-day months, shorter in February
        ("P90D", "P10Y", 1),
        ("P2W", "P14D", 0),
    ],
)
def test_compare_durations(old: str, new: str, order: int | None) -> None:
    assert compare_durations(old, new) == order


@pytest.mark.parametrize(
    ("iso", "words"),
    [
        ("P30D", "30 days"),
        ("P1D", "1 day"),
        ("P1M", "1 month"),
        ("P2Y", "2 years"),
        ("P13M", "13 months"),
        ("P1Y6M", "1 year and 6 months"),
        ("P1Y2M3D", "1 year, 2 months and 3 days"),
        ("P2W", "14 days"),
        ("PT1H30M", "1 hour and 30 minutes"),
    ],
)
def test_duration_in_words(iso: str, words: str) -> None:
    assert duration_in_words(iso) == words


@pytest.mark.parametrize("iso", ["-P1D", "P1.5Y", "P0.5M", "30D", "P", "", "PXD"])
def test_invalid_durations_raise_value_error(iso: str) -> None:
    with pytest.raises(ValueError, match=r"duration|fractional|negative|start with"):
        parse_duration(iso)
