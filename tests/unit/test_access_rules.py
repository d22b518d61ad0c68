from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from safehold.access import rules


def test_a_new_token_parses_back_to_its_id_and_secret() -> None:
    token = rules.new_token()
    assert rules.parse_token(token.token) == (token.key_id, token.secret)
    assert rules.secret_matches(token.secret, token.secret_hash)
    assert token.secret not in token.secret_hash


def test_tokens_are_unique() -> None:
    assert len({rules.new_token().token for _ in range(200)}) == 200


@given(st.text(max_size=120))
def test_arbitrary_text_is_never_a_token_unless_well_formed(text: str) -> None:
    parsed = rules.parse_token(text)
    if parsed is not None:
        assert text == f"shk_{parsed[0]}_{parsed[1]}"


def test_a_changed_secret_does_not_match() -> None:
    token = rules.new_token()
    other = "B" if token.secret.endswith("A") else "A"
    assert not rules.secret_matches(token.secret[:-1] + other, token.secret_hash)


def test_purpose_binding() -> None:
    assert rules.purpose_allowed(["communication.service"], "communication.service")
    assert not rules.purpose_allowed(["communication.service"], "service_provision")
    assert rules.purpose_allowed([rules.ANY_PURPOSE], "service_provision")
    assert not rules.purpose_allowed([], "service_provision")


scopes = st.lists(st.sampled_from(sorted(rules.SCOPES)), max_size=6)
purposes = st.lists(st.sampled_from(["a", "b", "c", rules.ANY_PURPOSE]), max_size=4)


@given(scopes, purposes, scopes, purposes)
def test_a_key_never_grants_more_than_it_holds(
    held_s: list[str], held_p: list[str], new_s: list[str], new_p: list[str]
) -> None:
    extra = rules.widens(held_s, held_p, new_s, new_p)
    if not extra:
        assert set(new_s) <= set(held_s)
        assert rules.ANY_PURPOSE in held_p or set(new_p) <= set(held_p)
    else:
        assert not set(new_s) <= set(held_s) or not set(new_p) <= set(held_p)


def test_every_new_key_id_matches_the_pattern_its_route_takes() -> None:
    # DELETE /v1/keys/{key_id} matches only this pattern (so /v1/keys/me is never an id).
    for _ in range(200):
        assert re.fullmatch(rules.KEY_ID_PATTERN, rules.new_token().key_id)
    assert re.fullmatch(rules.KEY_ID_PATTERN, "me") is None


def test_requests_write_holds_both_halves_of_the_split_request_scope() -> None:
    assert rules.holds(["requests:write"], "requests:open")
    assert rules.holds(["requests:write"], "requests:execute")
    assert not rules.holds(["requests:open"], "requests:execute")  # a support agent's grant
    assert not rules.holds(["requests:open", "requests:execute"], "requests:write")
    # A key made before the split makes keys with either half; the halves never make it.
    assert rules.widens(["requests:write"], ["*"], ["requests:open"], []) == []
    assert rules.widens(["requests:open"], ["*"], ["requests:execute"], []) == ["requests:execute"]
    assert rules.widens(["requests:open", "requests:execute"], ["*"], ["requests:write"], []) == [
        "requests:write"
    ]
