"""The pure request rules: the transition table walked in full, deadline arithmetic
(Hypothesis: month ends, the one extension), the one-time code, and the erasure plan."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.policy import load_policy
from safehold.requests import rules
from safehold.requests.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeInvalid,
    CodeMissing,
    ExtensionInvalid,
    TransitionRefused,
)
from safehold.requests.rules import Status
from tests.conftest import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - Hypothesis takes naive bounds
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_every_pair_of_states_is_allowed_or_refused_by_the_table(
    current: Status, target: Status
) -> None:
    if target in rules.TRANSITIONS[current]:
        assert rules.check_transition(str(current), target) is target
    else:
        with pytest.raises(TransitionRefused) as caught:
            rules.check_transition(str(current), target)
        assert caught.value.details["status"] == current
        assert caught.value.details["target"] == target
        assert f"'{current}'" in caught.value.message


def test_terminal_states_are_the_answers() -> None:
    assert {Status.COMPLETED, Status.PARTIALLY_COMPLETED, Status.REJECTED} == rules.TERMINAL
    every_state_reaches_an_answer = all(
        rules.TRANSITIONS[s] & (rules.TERMINAL | {Status.VERIFIED, Status.IN_PROGRESS})
        for s in rules.OPEN
    )
    assert every_state_reaches_an_answer


@given(moments)
def test_the_default_deadline_is_the_same_day_next_month_or_its_last_day(at: datetime) -> None:
    due = rules.deadline(at, "P1M")
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    last = calendar.monthrange(year, month)[1]
    assert (due.year, due.month, due.day) == (year, month, min(at.day, last))
    assert due.time() == at.time()
    assert due.tzinfo == at.tzinfo
    assert timedelta(days=28) <= due - at <= timedelta(days=31)
    assert rules.deadline(at, None) == due  # no policy period: GDPR's one month


@given(moments, moments)
def test_a_later_request_never_has_an_earlier_deadline(a: datetime, b: datetime) -> None:
    early, late = sorted((a, b))
    assert rules.deadline(early, "P1M") <= rules.deadline(late, "P1M")


def test_month_ends_clamp() -> None:
    assert rules.deadline(datetime(2024, 1, 31, 12, tzinfo=UTC), "P1M") == datetime(
        2024, 2, 29, 12, tzinfo=UTC
    )
    assert rules.deadline(datetime(2025, 1, 31, tzinfo=UTC), "P1M").day == 28
    assert rules.deadline(datetime(2025, 12, 31, tzinfo=UTC), "P1M") == datetime(
        2026, 1, 31, tzinfo=UTC
    )


@given(moments, st.integers(min_value=1, max_value=2), st.integers(min_value=1, max_value=61))
def test_an_extension_within_the_maximum_moves_the_deadline_later(
    at: datetime, months: int, days: int
) -> None:
    original = rules.deadline(at, "P1M")
    extended = rules.extended_deadline(at, "P1M", f"P{months}M", "P2M")
    assert original < extended <= rules.deadline(original, "P2M")
    by_days = rules.extended_deadline(at, "P1M", f"P{min(days, 59)}D", "P2M")
    assert original < by_days <= rules.deadline(original, "P2M")


@given(moments)
def test_an_extension_past_the_maximum_or_of_nothing_is_refused(at: datetime) -> None:
    for too_long in ("P3M", "P2M1D", "P1Y"):
        with pytest.raises(ExtensionInvalid):
            rules.extended_deadline(at, "P1M", too_long, "P2M")
    for bad in ("P0D", "soon", "-P1M"):
        with pytest.raises(ExtensionInvalid):
            rules.extended_deadline(at, "P1M", bad, "P2M")


def test_overdue_only_while_open_and_past_the_deadline() -> None:
    due = datetime(2026, 4, 2, tzinfo=UTC)
    later = due + timedelta(seconds=1)
    assert rules.is_overdue("verified", due, later)
    assert not rules.is_overdue("verified", due, due)
    assert not rules.is_overdue("completed", due, later)
    assert not rules.is_overdue("rejected", due, later)


# --- the code -------------------------------------------------------------------------------

KEY = rules.code_key(b"k" * 32)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _state(code: str, rid: uuid.UUID, attempts: int = 0) -> rules.CodeState:
    return rules.CodeState(rules.hash_code(KEY, rid, code), NOW + rules.CODE_TTL, attempts)


def test_a_code_is_eight_digits_and_stored_as_a_keyed_hash_bound_to_its_request() -> None:
    code = rules.new_code()
    assert len(code) == rules.CODE_DIGITS
    assert code.isdigit()
    rid = uuid.uuid4()
    digest = rules.hash_code(KEY, rid, code)
    assert code not in digest
    assert len(digest) == 64
    assert digest != rules.hash_code(KEY, uuid.uuid4(), code)  # another request
    assert digest != rules.hash_code(rules.code_key(b"j" * 32), rid, code)  # another key
    assert digest == rules.hash_code(KEY, rid, f" {code[:4]} {code[4:]} ")  # typed with spaces


def test_the_right_code_passes_until_it_expires() -> None:
    rid = uuid.uuid4()
    rules.check_code(KEY, rid, _state("12345678", rid), "12345678", NOW)
    rules.check_code(
        KEY, rid, _state("12345678", rid), "12345678", NOW + rules.CODE_TTL - timedelta(seconds=1)
    )
    with pytest.raises(CodeExpired):
        rules.check_code(KEY, rid, _state("12345678", rid), "12345678", NOW + rules.CODE_TTL)


def test_wrong_codes_count_down_and_then_even_the_right_one_is_refused() -> None:
    rid = uuid.uuid4()
    with pytest.raises(CodeInvalid) as caught:
        rules.check_code(KEY, rid, _state("12345678", rid), "87654321", NOW)
    assert caught.value.details == {"attempts_left": rules.CODE_MAX_ATTEMPTS - 1}
    assert "87654321" not in caught.value.message
    spent = _state("12345678", rid, attempts=rules.CODE_MAX_ATTEMPTS)
    with pytest.raises(CodeAttemptsExhausted):
        rules.check_code(KEY, rid, spent, "12345678", NOW)


def test_a_spent_code_is_gone() -> None:
    with pytest.raises(CodeMissing):
        rules.check_code(KEY, uuid.uuid4(), rules.CodeState(None, None, 0), "12345678", NOW)


# --- the erasure plan -----------------------------------------------------------------------

TIMES = rules.Times(collected=NOW, last_activity=NOW, account_closed=NOW)
STORED = {
    "account.name": {"invoice_records"},
    "account.email": {"account_contact"},
    "account.phone": {"account_contact"},
    "account.address": {"invoice_records"},
    "account.payment": {"payment", "payment_records"},
    "usage.action": {"usage_events"},
}


def test_without_holds_only_the_exceptions_that_survive_erasure_are_kept() -> None:
    plan = rules.plan(POLICY, STORED, [], TIMES)
    assert plan.erase_classes == ("account_contact", "payment", "usage_events")
    assert plan.kept_classes == ("invoice_records", "payment_records")
    kept = {(h.category, h.ref) for h in plan.kept}
    assert kept == {
        ("account.name", "invoice_records"),
        ("account.address", "invoice_records"),
        ("account.payment", "payment_records"),
    }
    assert all(h.until == NOW.replace(year=NOW.year + 10) for h in plan.kept)  # P10Y collected
    assert all(h.legal_basis and h.reason for h in plan.kept)
    assert not plan.partial  # the law's limits of the right, not a shortfall
    assert plan.keeps("account.payment", "payment_records")
    assert not plan.keeps("account.payment", "payment")
    assert "account.email" in plan.erase_categories
    assert "account.name" not in plan.erase_categories


def test_a_hold_keeps_exactly_the_classes_of_the_categories_it_names() -> None:
    until = NOW + timedelta(days=400)
    hold = rules.Hold("h1", frozenset({"account.email"}), "claim", "a court order", until)
    plan = rules.plan(POLICY, STORED, [hold], TIMES)
    assert "account_contact" not in plan.erase_classes  # its key survives for the email
    assert plan.keeps("account.email", "account_contact")
    assert not plan.keeps("account.phone", "account_contact")  # the phone row still goes
    assert "account.phone" in plan.erase_categories
    held = [h for h in plan.kept if h.kind == "legal_hold"]
    assert [(h.category, h.ref, h.until) for h in held] == [("account.email", "h1", until)]
    assert plan.partial


def test_a_typed_code_is_its_digits_without_spaces_or_nothing() -> None:
    assert rules.typed_code(" 1234 5678 ") == "12345678"
    assert rules.typed_code("1234567") is None  # too short
    assert rules.typed_code("12a45678") is None
    assert rules.typed_code("123456789") is None
    assert rules.typed_code(None) is None


def test_invoice_records_are_kept_only_for_people_with_payment_information() -> None:
    never_billed = {k: v for k, v in STORED.items() if k != "account.payment"}
    plan = rules.plan(POLICY, never_billed, [], TIMES)
    assert plan.kept == ()
    assert "invoice_records" in plan.erase_classes
    assert {"account.name", "account.address"} <= set(plan.erase_categories)
    assert plan.not_applicable == (("invoice_records", ("account.payment",)),)
    billed = rules.plan(POLICY, STORED, [], TIMES)
    assert billed.not_applicable == ()
    assert billed.keeps("account.name", "invoice_records")


def test_every_extension_reason_has_a_sentence_for_the_person() -> None:
    assert set(rules.EXTENSION_WORDS) == set(rules.EXTENSION_REASONS)
    for reason, sentence in rules.EXTENSION_WORDS.items():
        assert sentence.endswith("."), reason
        assert "Art." not in sentence  # plain words: the legal reference is in the e-mail's text
