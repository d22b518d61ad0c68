"""The address retention rule ingestion and the maintenance round share: an address is
dropped if its event is at or before the cut-off of its shape's period, seen far enough
ahead that nothing passes its period between two rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.events import jobs, rules
from safehold.policy import load_policy
from tests.conftest import DEFAULT_POLICY

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
moments = st.datetimes(  # naive bounds, aware values
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def test_the_look_ahead_covers_the_gap_between_two_maintenance_rounds() -> None:
    assert timedelta(seconds=jobs.MAINTENANCE_SECONDS) < rules.IP_EXPIRY_AHEAD


@given(received=moments, age=st.timedeltas(timedelta(0), timedelta(days=60)))
def test_no_address_is_kept_that_passes_its_period_before_the_next_round(
    received: datetime, age: timedelta
) -> None:
    expiry = rules.IpExpiry.at(received, "P30D", "P7D")
    occurred = received - age
    next_round = received + timedelta(seconds=jobs.MAINTENANCE_SECONDS)
    for stored, period in (
        ("203.0.113.0/24", timedelta(days=30)),
        ("203.0.113.7", timedelta(days=7)),
    ):
        kept = expiry.keep(stored, occurred)
        if occurred + period <= next_round:  # past its period before the next round
            assert kept is None
        if occurred + period > received + rules.IP_EXPIRY_AHEAD + timedelta(minutes=1):
            assert kept == stored  # and never dropped much earlier than that


def test_without_a_full_period_whole_addresses_follow_the_network_period() -> None:
    expiry = rules.IpExpiry.at(NOW, "P30D", None)
    assert expiry.whole_cutoff == expiry.prefix_cutoff


def test_a_policy_without_the_network_category_keeps_no_address() -> None:
    policy = load_policy(DEFAULT_POLICY)
    categories = tuple(c for c in policy.categories if c.id != "network.ip")
    bare = policy.model_copy(update={"categories": categories})
    expiry = rules.IpExpiry.of(bare, NOW)
    assert expiry.keep("203.0.113.0/24", NOW) is None
    assert rules.IpExpiry.of(policy, NOW).keep("203.0.113.0/24", NOW) == "203.0.113.0/24"
    assert expiry.keep(None, NOW) is None
