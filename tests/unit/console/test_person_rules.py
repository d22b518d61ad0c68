"""The console's small rules behind the person page and the analytics charts: a look-up's
text read as an address or a number, a hold's last day, and the calendar order of the
weekday and hour reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.console.rules import HOURS, WEEKDAYS, calendar_position, hold_until, lookup_kind


def test_text_with_an_at_is_an_address_anything_else_a_number() -> None:
    assert lookup_kind("ada@example.com") == "email"
    assert lookup_kind("+44 20 7946 0958") == "phone"
    assert lookup_kind("020 7946 0958") == "phone"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(9998, 12, 30)))
def test_a_hold_until_a_day_runs_through_that_whole_day(day: date) -> None:
    end = hold_until(day)
    assert end.tzinfo is UTC
    assert end.date() == day
    assert (end + timedelta(seconds=1)).date() == day + timedelta(days=1)


def test_weekdays_run_monday_first_and_folded_cells_come_last() -> None:
    counted = ["Thu", "(other)", "Mon", "Sun", "Fri"]  # as the report orders them: by count
    assert sorted(counted, key=lambda d: calendar_position(WEEKDAYS, d)) == [
        "Mon", "Thu", "Fri", "Sun", "(other)"
    ]  # fmt: skip


@given(st.lists(st.sampled_from([*HOURS, "(other)"]), unique=True))
def test_hours_run_from_midnight_and_folded_cells_come_last(labels: list[str]) -> None:
    ordered = sorted(labels, key=lambda h: calendar_position(HOURS, h))
    hours = [h for h in ordered if h != "(other)"]
    assert hours == sorted(hours, key=int)
    if "(other)" in ordered:
        assert ordered[-1] == "(other)"


def test_the_calendars_are_whole() -> None:
    assert WEEKDAYS == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert len(HOURS) == 24
    assert [int(h) for h in HOURS] == list(range(24))
    assert datetime(2026, 12, 7, tzinfo=UTC).strftime("%a") == WEEKDAYS[0]  # a Monday
