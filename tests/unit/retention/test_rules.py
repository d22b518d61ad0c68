"""Retention windows: when a class's period has run out, with calendar months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.policy import load_policy
from safehold.policy.document import RetentionFrom
from safehold.policy.rules import add_duration
from safehold.retention import rules
from tests.conftest import DEFAULT_POLICY

moments = st.datetimes(  # naive bounds, aware values
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
periods = st.sampled_from(["P30D", "P90D", "P120D", "P12M", "P13M", "P1M", "P10Y"])


@given(
    start=moments, period=periods, offset=st.timedeltas(timedelta(days=-400), timedelta(days=400))
)
def test_due_exactly_when_the_whole_period_has_passed(
    start: datetime, period: str, offset: timedelta
) -> None:
    now = add_duration(start, period) + offset
    assert rules.is_due(start, period, now) is (offset >= timedelta(0))


@given(start=moments, period=periods, a=moments, b=moments)
def test_once_due_always_due(start: datetime, period: str, a: datetime, b: datetime) -> None:
    early, late = sorted((a, b))
    if rules.is_due(start, period, early):
        assert rules.is_due(start, period, late)


@given(now=moments, period=periods)
def test_an_open_account_never_runs_an_after_closure_period(now: datetime, period: str) -> None:
    times = rules.PersonTimes(last_activity=now - timedelta(days=9999), closed_at=None)
    assert not rules.is_due(rules.person_start(times, RetentionFrom.ACCOUNT_CLOSED), period, now)
    assert rules.is_due(rules.person_start(times, RetentionFrom.LAST_ACTIVITY), "P12M", now)


def test_month_ends_clamp() -> None:
    closed = datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert rules.ends_at(closed, "P1M") == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert not rules.is_due(closed, "P1M", datetime(2027, 2, 28, 11, 59, tzinfo=UTC))
    assert rules.is_due(closed, "P1M", datetime(2027, 2, 28, 12, tzinfo=UTC))


def test_every_class_of_the_policy_is_listed_with_its_own_period() -> None:
    found = {r.retention_class: r for r in rules.class_rules(load_policy(DEFAULT_POLICY))}
    assert found["account_contact"].start is RetentionFrom.ACCOUNT_CLOSED
    assert found["invoice_records"].categories == ("account.name", "account.address")
    assert found["invoice_records"].is_exception
    assert found["invoice_records"].period == "P10Y"
    assert found["usage_events"].action == "aggregate_then_delete"


def test_holds_name_people_and_categories() -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    hold = rules.ActiveHold(
        "h1", "p1", frozenset({"account.email"}), "case 7", "court order", until
    )
    assert rules.holding([hold], "p1", ["account.email", "account.phone"]) == [hold]
    assert rules.holding([hold], "p1", ["account.phone"]) == []
    assert rules.holding([hold], "p2", ["account.email"]) == []
    assert rules.held_categories([hold], "p1") == {"account.email"}
