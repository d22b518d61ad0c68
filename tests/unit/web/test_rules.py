from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.carddata import contains_card_number
from safehold.web import rules
from safehold.web.rules import Kind

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = rules.csrf_key(b"\x01" * 32)


def test_session_tokens_are_random_and_only_their_hash_is_kept() -> None:
    first, second = rules.new_token(), rules.new_token()
    assert first != second
    assert len(first) >= 43
    assert rules.session_id(first) != first
    assert len(rules.session_id(first)) == 64


def test_a_session_ends_when_idle_too_long() -> None:
    idle = rules.LIFETIMES[Kind.PERSON].idle
    assert rules.alive(Kind.PERSON, T0, T0, T0 + idle - timedelta(seconds=1))
    assert not rules.alive(Kind.PERSON, T0, T0, T0 + idle)


def test_a_session_ends_at_its_absolute_end_however_active() -> None:
    absolute = rules.LIFETIMES[Kind.STAFF].absolute
    just_seen = T0 + absolute
    assert not rules.alive(Kind.STAFF, T0, just_seen, just_seen)
    assert rules.alive(
        Kind.STAFF, T0, just_seen - timedelta(minutes=1), just_seen - timedelta(seconds=1)
    )


def test_the_csrf_field_must_match_the_cookie() -> None:
    cookie = rules.new_token()
    token = rules.csrf_token(KEY, cookie)
    assert rules.csrf_valid(KEY, cookie, token)
    assert not rules.csrf_valid(KEY, rules.new_token(), token)  # another browser's cookie
    assert not rules.csrf_valid(KEY, cookie, None)
    assert not rules.csrf_valid(KEY, None, token)
    assert not rules.csrf_valid(rules.csrf_key(b"\x02" * 32), cookie, token)  # another install


@given(st.text(max_size=80))
def test_no_made_up_field_passes(submitted: str) -> None:
    cookie = "c" * 43
    assert rules.csrf_valid(KEY, cookie, submitted) is (submitted == rules.csrf_token(KEY, cookie))


def test_csrf_tokens_never_look_like_card_numbers() -> None:
    # A form field the card-data guard refuses would make the form fail for no reason.
    for _ in range(3000):
        token = rules.csrf_token(KEY, rules.new_token())
        assert not contains_card_number(token)
        assert len(token) == 43
