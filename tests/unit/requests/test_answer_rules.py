"""Pure rules of the answers: download links, objections, corrections, the log's 24 months."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.policy import load_policy
from safehold.policy.durations import add_duration
from safehold.requests import links, rules
from safehold.requests.errors import (
    ExportLinkExpired,
    ExportLinkInvalid,
    ObjectionInvalid,
    RectificationInvalid,
)
from tests.conftest import DEFAULT_POLICY

KEY = links.derive_key(b"i" * 32)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - Hypothesis takes naive bounds
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def test_the_link_key_is_its_own_derivation() -> None:
    assert len(KEY) == 32
    assert links.derive_key(b"j" * 32) != KEY
    assert KEY != b"i" * 32


def test_a_link_names_its_request_until_it_expires() -> None:
    rid = uuid.uuid4()
    expires = NOW + rules.EXPORT_LINK_TTL
    token = links.make_token(KEY, rid, expires)
    assert links.read_token(KEY, token, NOW) == links.Link(rid, expires)
    assert links.read_token(KEY, token, expires - timedelta(seconds=1)).request_id == rid
    with pytest.raises(ExportLinkExpired):
        links.read_token(KEY, token, expires)


@given(st.integers(min_value=0, max_value=200), st.sampled_from("AQgw-_"))
def test_any_altered_character_makes_the_link_invalid(position: int, char: str) -> None:
    token = links.make_token(KEY, uuid.UUID(int=7), NOW + timedelta(days=1))
    index = position % len(token)
    altered = token[:index] + char + token[index + 1 :]
    if altered == token:
        return
    with pytest.raises(ExportLinkInvalid):
        links.read_token(KEY, altered, NOW)


def test_a_link_made_with_another_key_or_garbage_is_invalid() -> None:
    other = links.make_token(links.derive_key(b"x" * 32), uuid.uuid4(), NOW + timedelta(days=1))
    for token in (other, "", ".", "abc.def", "a" * 60):
        with pytest.raises(ExportLinkInvalid):
            links.read_token(KEY, token, NOW)


def test_objections_follow_the_policy() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert rules.objection_effect(policy, "platform_improvement") == rules.LEAVE_PURPOSE
    assert rules.objection_effect(policy, "communication.marketing") == rules.OPT_OUT
    for purpose in (None, "service_provision", "legal_obligation", "unknown"):
        with pytest.raises(ObjectionInvalid):
            rules.objection_effect(policy, purpose)


def test_corrections_name_known_fields_and_whole_addresses() -> None:
    assert rules.rectification_fields({"phone": "+44 20 7946 0000", "name": "A"}) == (
        "name",
        "phone",
    )
    address = {"street": "1 Lane", "postal_code": "EX1", "city": "Exampleton", "country": "GB"}
    assert set(rules.rectification_fields(address)) == set(rules.ADDRESS_PARTS)
    for bad in ({}, {"ssn": "x"}, {"city": "Exampleton"}):
        with pytest.raises(RectificationInvalid) as caught:
            rules.rectification_fields(bad)
        assert "x" not in str(caught.value.details.values())  # values are never echoed


@given(moments, moments)
def test_the_request_log_goes_exactly_24_months_after_the_response(
    responded: datetime, now: datetime
) -> None:
    due = add_duration(responded, rules.REQUEST_LOG_RETENTION)
    assert rules.log_expired(responded, now) is (now >= due)
    assert rules.log_expired(None, now) is False


@given(moments)
def test_the_log_is_never_purged_before_two_years(responded: datetime) -> None:
    assert not rules.log_expired(responded, responded + timedelta(days=365 * 2 - 1))
    assert rules.log_expired(responded, responded + timedelta(days=365 * 2 + 1))
