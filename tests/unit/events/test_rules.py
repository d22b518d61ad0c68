"""The pure rules of usage events: skew correction, time windows, property checks, IP
minimisation and month partitions. Hypothesis for the edges that cost data."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.events import rules
from safehold.events.rules import Reason, Refusal, SplitProperties
from safehold.policy.document import EventKind, FullIpRules, IpMode, IpRules

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
moments = st.datetimes(  # Hypothesis takes naive bounds and adds the time zone
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
skews = st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=3650))


@given(received=moments, happened_before=st.timedeltas(timedelta(0), timedelta(days=30)),
       skew=skews)  # fmt: skip
def test_a_device_clock_error_cancels_out_with_sent_at(
    received: datetime, happened_before: timedelta, skew: timedelta
) -> None:
    """A device whose clock is off by ``skew`` stamps both the event and the batch with it;
    the corrected time is what it would have been with a right clock (send delay aside)."""
    true_time = received - happened_before
    corrected = rules.event_time(received, true_time + skew, received + skew)
    assert corrected == true_time


def test_event_time_without_sent_at_or_timestamp() -> None:
    stamp = NOW - timedelta(minutes=3)
    assert rules.event_time(NOW, stamp, None) == stamp
    assert rules.event_time(NOW, None, NOW - timedelta(hours=1)) == NOW


@pytest.mark.parametrize(
    ("occurred", "reason"),
    [
        (NOW + rules.FUTURE_TOLERANCE + timedelta(seconds=1), Reason.TIMESTAMP_IN_FUTURE),
        (datetime(1999, 12, 31, 23, 59, tzinfo=UTC), Reason.TIMESTAMP_TOO_OLD),
        (datetime(1970, 1, 1, tzinfo=UTC), Reason.TIMESTAMP_TOO_OLD),
        (NOW - timedelta(days=400), Reason.OUTSIDE_RETENTION),
    ],
)
def test_times_the_store_cannot_hold_are_refused(occurred: datetime, reason: Reason) -> None:
    refusal = rules.TimeWindow.at(NOW, "P13M").check(occurred)
    assert refusal is not None
    assert refusal.reason is reason
    assert refusal.message


@given(age=st.timedeltas(timedelta(0), timedelta(days=360)))
def test_times_inside_the_window_are_kept(age: timedelta) -> None:
    assert rules.TimeWindow.at(NOW, "P13M").check(NOW - age) is None
    assert rules.TimeWindow.at(NOW, "P13M").check(NOW + rules.FUTURE_TOLERANCE) is None


@given(occurred=moments, received=moments)
def test_an_accepted_time_is_never_past_its_retention(
    occurred: datetime, received: datetime
) -> None:
    """Whatever is accepted can still be kept: a month is never dropped under a new event."""
    if rules.TimeWindow.at(received, "P12M").check(occurred) is None:
        assert occurred + timedelta(days=366) > received
        assert occurred <= received + rules.FUTURE_TOLERANCE


# Any aware time a device may send: the whole datetime range, with any whole-minute offset
# (so also times an offset pushes past the ends of datetime once written in UTC).
offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
any_time = st.datetimes(timezones=offsets)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // US  # exact: a difference of two datetimes never overflows


@given(received=moments, timestamp=st.none() | any_time, sent_at=st.none() | any_time)
def test_any_device_times_give_the_exact_time_or_the_reason_it_has(
    received: datetime, timestamp: datetime | None, sent_at: datetime | None
) -> None:
    """Over the whole datetime range, the corrected time never raises (one event with
    timestamp 0001 and sent_at 9999 used to fail its whole batch), and it is refused or kept
    exactly as its true time, worked out in whole microseconds, would be."""
    window = rules.TimeWindow.at(received, "P13M")
    occurred = rules.event_time(received, timestamp, sent_at)
    refusal = window.check(occurred)
    if timestamp is None:
        exact = _us(received)
    elif sent_at is None:
        exact = _us(timestamp)
    else:
        exact = _us(received) - (_us(sent_at) - _us(timestamp))
    if exact > _us(window.latest):
        expected: Reason | None = Reason.TIMESTAMP_IN_FUTURE
    elif exact < _us(rules.EARLIEST_EVENT):
        expected = Reason.TIMESTAMP_TOO_OLD
    elif exact <= _us(window.cutoff):
        expected = Reason.OUTSIDE_RETENTION
    else:
        expected = None
    assert (None if refusal is None else refusal.reason) is expected
    if expected is None:
        assert _us(occurred) == exact


@pytest.mark.parametrize(
    ("timestamp", "sent_at", "reason"),
    [
        (rules.EARLIEST_TIME, rules.LATEST_TIME, Reason.TIMESTAMP_TOO_OLD),
        (rules.LATEST_TIME, rules.EARLIEST_TIME, Reason.TIMESTAMP_IN_FUTURE),
        (rules.LATEST_TIME, NOW - timedelta(seconds=1), Reason.TIMESTAMP_IN_FUTURE),
        (rules.EARLIEST_TIME, NOW, Reason.TIMESTAMP_TOO_OLD),
    ],
)
def test_the_reviews_extreme_times_are_refused_with_their_reason(
    timestamp: datetime, sent_at: datetime, reason: Reason
) -> None:
    occurred = rules.event_time(NOW, timestamp, sent_at)
    refusal = rules.TimeWindow.at(NOW, "P13M").check(occurred)
    assert refusal is not None
    assert refusal.reason is reason


@given(moment=any_time)
def test_a_time_is_in_utc_range_when_it_can_be_written_in_utc(moment: datetime) -> None:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        writable = False
    else:
        writable = True
    assert rules.in_utc_range(moment) is writable


KIND = EventKind(name="guide.search", category="usage.action", dimensions=("results",),
                 personal=("query",))  # fmt: skip


def test_properties_split_into_plain_dimensions_and_personal_values() -> None:
    split = rules.split_properties({"results": 3, "query": "cooking"}, KIND)
    assert split == SplitProperties({"results": 3}, {"query": "cooking"})


def test_without_a_declared_kind_every_property_is_personal() -> None:
    split = rules.split_properties({"anything": 1}, None)
    assert split == SplitProperties({}, {"anything": 1})


def test_undeclared_properties_are_refused_naming_only_identifier_keys() -> None:
    refusal = rules.split_properties(
        {"results": 1, "channel": "x", "ada@example.com": 1, "Weird Key": 2}, KIND
    )
    assert isinstance(refusal, Refusal)
    assert refusal.reason is Reason.PROPERTY_NOT_ALLOWED
    assert refusal.details["properties"] == ["channel"]
    assert "ada@example.com" not in str(refusal.details)
    assert refusal.details["allowed"] == ["query", "results"]


def test_oversized_properties_are_refused() -> None:
    refusal = rules.split_properties({"query": "x" * rules.MAX_PROPERTIES_BYTES}, KIND)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is Reason.PROPERTIES_TOO_LARGE
    assert rules.split_properties({"query": "x" * 100}, KIND) == SplitProperties(
        {}, {"query": "x" * 100}
    )


TRUNCATE = IpRules(mode=IpMode.TRUNCATE, ipv4_prefix=24, ipv6_prefix=48)


@pytest.mark.parametrize(
    ("address", "mode", "kept"),
    [
        ("203.0.113.77", TRUNCATE, "203.0.113.0/24"),
        ("2001:db8:abcd:12:1:2:3:4", TRUNCATE, "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", TRUNCATE, "198.51.100.0/24"),
        (" 203.0.113.77 ", TRUNCATE, "203.0.113.0/24"),
        (None, TRUNCATE, None),
        ("203.0.113.77", IpRules(mode=IpMode.DROP), None),
        ("203.0.113.77", IpRules(mode=IpMode.FULL, full=FullIpRules(purpose="s", period="P7D")),
         "203.0.113.77"),
    ],
)  # fmt: skip
def test_ip_minimisation(address: str | None, mode: IpRules, kept: str | None) -> None:
    assert rules.minimise_ip(address, mode) == kept


def test_text_that_is_no_address_is_an_error_unless_addresses_are_dropped() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        rules.minimise_ip("not an address", TRUNCATE)
    assert rules.minimise_ip("not an address", IpRules(mode=IpMode.DROP)) is None


def test_properties_that_are_obviously_small_are_not_serialised_to_be_measured() -> None:
    many = {f"p{i}": "é" * 100 for i in range(6)}  # 600 characters, 1.2 KB in UTF-8
    assert isinstance(rules.split_properties(many, None), SplitProperties)
    nested = {"query": {"deep": ["x" * 5000]}}
    refusal = rules.split_properties(nested, None)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is Reason.PROPERTIES_TOO_LARGE


@given(
    st.dictionaries(
        st.text(max_size=20),
        st.one_of(
            st.text(max_size=300),
            st.integers(),
            st.floats(allow_nan=False),
            st.booleans(),
            st.none(),
        ),
        max_size=12,
    )
)
def test_the_size_bound_never_lets_oversized_properties_through(props: dict[str, object]) -> None:
    size = len(rules.compact_json(props).encode())
    result = rules.split_properties(props, None)
    assert isinstance(result, Refusal) == (size > rules.MAX_PROPERTIES_BYTES)


@given(st.ip_addresses(v=4), st.integers(0, 24))
def test_a_truncated_ipv4_holds_the_address_and_nothing_finer(
    address: ipaddress.IPv4Address, prefix: int
) -> None:
    kept = rules.minimise_ip(str(address), IpRules(mode=IpMode.TRUNCATE, ipv4_prefix=prefix))
    assert kept is not None
    network = ipaddress.ip_network(kept)
    assert address in network
    assert network.prefixlen == prefix
    assert not rules.is_whole_address(kept)


@given(st.ip_addresses(v=6), st.integers(0, 48))
def test_a_truncated_ipv6_holds_the_address_and_nothing_finer(
    address: ipaddress.IPv6Address, prefix: int
) -> None:
    kept = rules.minimise_ip(str(address), IpRules(mode=IpMode.TRUNCATE, ipv6_prefix=prefix))
    assert kept is not None
    network = ipaddress.ip_network(kept)
    if address.ipv4_mapped is None:
        assert address in network
        assert network.prefixlen == prefix


@given(moments)
def test_every_moment_falls_in_its_months_partition(moment: datetime) -> None:
    month = rules.month_start(moment)
    start, end = rules.month_bounds(month)
    assert start <= moment < end
    assert rules.month_of_partition(rules.partition_name(month)) == month
    assert rules.month_bounds(rules.next_month(month))[0] == end


def test_partition_names() -> None:
    assert rules.partition_name(date(2026, 3, 1)) == "events_202603"
    assert rules.month_of_partition("events_202612") == date(2026, 12, 1)
    for name in ("events", "events_2026", "events_202613", "logins_202601", "events_2026ab"):
        assert rules.month_of_partition(name) is None
    assert rules.months_ahead(datetime(2026, 12, 31, 23, 59, tzinfo=UTC), 2) == [
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]


def test_a_month_expires_once_its_last_event_is_past_retention() -> None:
    months = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    # P13M after the end of January 2025 (1 Feb 2025) is 1 March 2026.
    assert rules.expired_months(months, datetime(2026, 2, 28, 23, tzinfo=UTC), "P13M") == []
    assert rules.expired_months(months, datetime(2026, 3, 1, tzinfo=UTC), "P13M") == [
        date(2025, 1, 1)
    ]


json_leaves = (
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False)  # what a JSON body can carry (NaN is not JSON)
)  # fmt: skip
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_the_cheap_size_bound_never_undercounts(properties: dict[str, object]) -> None:
    """The bound that spares encoding most events' properties must never let an oversized
    set through: it is at least the exact size of their compact JSON in UTF-8."""
    exact = len(rules.compact_json(properties).encode())
    assert rules._upper_bound(properties) >= exact
