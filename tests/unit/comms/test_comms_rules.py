"""The pure rules of communication: delivery states, retries, suppression, marketing state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.comms import rules
from safehold.comms.rules import Status
from safehold.policy import load_policy
from safehold.policy.rules import SubjectState, decide
from tests.conftest import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

EXPECTED = {
    (Status.QUEUED, Status.SENDING),
    (Status.QUEUED, Status.SKIPPED),
    (Status.QUEUED, Status.SUPPRESSED),
    (Status.SENDING, Status.SENDING),
    (Status.SENDING, Status.QUEUED),
    (Status.SENDING, Status.SENT),
    (Status.SENDING, Status.FAILED),
    (Status.SENDING, Status.SKIPPED),
    (Status.SENDING, Status.SUPPRESSED),
    (Status.FAILED, Status.QUEUED),
    (Status.FAILED, Status.SKIPPED),  # the notice of a policy version withdrawn (decision 0034)
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_the_transition_table_allows_exactly_the_expected_moves(
    current: Status, target: Status
) -> None:
    assert rules.can_move(current, target) == ((current, target) in EXPECTED)


def test_every_state_is_reachable_from_queued_and_only_terminal_states_end_a_walk() -> None:
    seen, frontier = {Status.QUEUED}, [Status.QUEUED]
    while frontier:
        for nxt in rules.TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)
    assert {s for s in Status if not rules.TRANSITIONS[s]} == rules.TERMINAL
    assert Status.SENT in rules.TERMINAL  # a sent e-mail is never taken back or re-sent


@given(st.lists(st.sampled_from(list(Status)), max_size=30))
def test_a_walk_that_follows_the_table_never_leaves_a_terminal_state(path: list[Status]) -> None:
    state = Status.QUEUED
    for target in path:
        if rules.can_move(state, target):
            assert state not in rules.TERMINAL
            state = target


@given(st.integers(min_value=1, max_value=rules.MAX_ATTEMPTS - 1))
def test_retries_wait_longer_each_time_until_the_last_attempt(attempts: int) -> None:
    due = rules.next_attempt_at(attempts, NOW)
    assert due is not None
    assert due > NOW
    if attempts > 1:
        earlier = rules.next_attempt_at(attempts - 1, NOW)
        assert earlier is not None
        assert earlier < due


@given(st.integers(min_value=rules.MAX_ATTEMPTS, max_value=10_000))
def test_after_the_last_attempt_there_is_no_retry(attempts: int) -> None:
    assert rules.next_attempt_at(attempts, NOW) is None


def test_the_retry_window_is_hours_not_days_and_a_try_count_starts_at_one() -> None:
    assert timedelta(hours=1) < sum(rules.RETRY_DELAYS, timedelta()) < timedelta(days=1)
    with pytest.raises(ValueError, match="at least 1"):
        rules.next_attempt_at(0, NOW)


KINDS = st.sets(st.sampled_from([str(k) for k in rules.SuppressionKind]))


@given(KINDS, st.sampled_from([rules.SERVICE, rules.MARKETING]))
def test_a_suppression_reason_is_given_exactly_when_a_kind_blocks_the_purpose(
    kinds: set[str], purpose: str
) -> None:
    reason = rules.suppression_reason(kinds, purpose)
    blocking = {k for k in kinds if purpose in rules.SUPPRESSES[rules.SuppressionKind(k)]}
    assert (reason is None) == (not blocking)
    if reason is not None:
        assert reason.removeprefix("suppression.") in blocking


def test_a_hard_bounce_stops_all_mail_a_complaint_or_erasure_only_marketing() -> None:
    assert rules.suppression_reason({"hard_bounce"}, rules.SERVICE) == "suppression.hard_bounce"
    assert rules.suppression_reason({"complaint", "erased"}, rules.SERVICE) is None
    assert rules.suppression_reason({"erased"}, rules.MARKETING) == "suppression.erased"


@given(st.sampled_from([None, rules.OPTED_IN, rules.OPTED_OUT]))
def test_only_an_opt_out_refuses_soft_opt_in_marketing(choice: str | None) -> None:
    opted_out, consented = rules.marketing_sets(choice)
    state = SubjectState(opted_out=opted_out, consented=consented)
    decision = decide(POLICY, rules.MARKETING, ["account.email"], state)
    assert decision.refused == (choice == rules.OPTED_OUT)
    assert not decide(POLICY, rules.SERVICE, ["account.email"], state).refused


def test_every_kind_maps_to_a_purpose_the_default_policy_declares() -> None:
    assert set(rules.KINDS.values()) <= set(POLICY.purpose_ids)
    assert POLICY.purpose(rules.MARKETING).is_marketing
    assert POLICY.purpose(rules.SERVICE).after_closure


def test_a_message_id_is_stable_and_in_the_senders_domain() -> None:
    assert rules.message_id("ab12", "news@example.com") == "<ab12@example.com>"
    assert rules.message_id("ab12", "news@example.com") == rules.message_id(
        "ab12", "news@example.com"
    )
