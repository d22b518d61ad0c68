"""The whole-request rules of a disclosure, who is told about what, and the notice states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.policy import Policy
from safehold.sharing import rules
from safehold.sharing.rules import Event, State, Step

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PAY = "payment_processor"
MAIL = "email_delivery"
AUTH = "authorities"


def check(policy: Policy, recipient: str, purpose: str, categories: list[str],
          reference: str | None = None) -> rules.Refusal | None:  # fmt: skip
    return rules.check_request(
        policy, recipient=recipient, purpose=purpose, categories=categories, reference=reference
    )


def test_what_the_policy_allows_passes(policy: Policy) -> None:
    assert check(policy, PAY, "service_provision", ["account.payment", "account.email"]) is None
    assert check(policy, MAIL, "service_provision", ["account.email"]) is None
    assert check(policy, AUTH, "legal_obligation", ["network.ip"], "Case 2026/0042") is None


@pytest.mark.parametrize(
    ("recipient", "purpose", "categories", "reference", "rule"),
    [
        ("advertiser", "service_provision", ["account.email"], None,
         "policy.recipients.unknown"),
        (PAY, "service_provisioning", ["account.email"], None, "policy.purposes.unknown"),
        (PAY, "communication.marketing", ["account.email"], None, "sharing.allowed_purposes"),
        (PAY, "platform_improvement", ["usage.login"], None, "sharing.allowed_purposes"),
        (PAY, "legal_obligation", ["account.email"], None, "recipients.payment_processor.purposes"),
        (AUTH, "service_provision", ["account.email"], "Case 1", "recipients.authorities.purposes"),
        (PAY, "service_provision", [], None, "purposes.service_provision.categories"),
        (PAY, "service_provision", ["account.card_number"], None, "policy.categories.unknown"),
        (MAIL, "service_provision", ["account.email", "account.phone"], None,
         "recipients.email_delivery.categories"),
        (MAIL, "service_provision", ["account.payment"], None,
         "recipients.email_delivery.categories"),
        (PAY, "service_provision", ["device.info"], None,
         "recipients.payment_processor.categories"),
        (AUTH, "legal_obligation", ["account.phone"], "Case 1",
         "recipients.authorities.categories"),
        (AUTH, "legal_obligation", ["account.name"], None,
         "recipients.authorities.legal_reference_required"),
        (AUTH, "legal_obligation", ["account.name"], "   ",
         "recipients.authorities.legal_reference_required"),
    ],
)  # fmt: skip
def test_every_disallowed_combination_is_refused_with_its_rule(
    policy: Policy, recipient: str, purpose: str, categories: list[str],
    reference: str | None, rule: str,
) -> None:  # fmt: skip
    refusal = check(policy, recipient, purpose, categories, reference)
    assert refusal is not None
    assert refusal.rule == rule


def test_categories_the_purpose_does_not_use_are_refused(policy: Policy) -> None:
    # A recipient that may receive login times for some purpose, asked for them under a
    # purpose that does not use them.
    auditor = policy.recipient(AUTH).model_copy(
        update={
            "id": "auditor",
            "purposes": ("legal_obligation", "service_provision"),
            "categories": ("account.name", "usage.login"),
        }
    )
    widened = policy.model_copy(update={"recipients": (*policy.recipients, auditor)})
    refusal = check(widened, "auditor", "legal_obligation", ["usage.login"], "Order 7")
    assert refusal is not None
    assert refusal.rule == "purposes.legal_obligation.categories"
    assert refusal.categories == ("usage.login",)
    assert check(widened, "auditor", "service_provision", ["usage.login"], "Order 7") is None


def test_undeclared_input_is_never_echoed(policy: Policy) -> None:
    for refusal in (
        check(policy, "<script>evil</script>", "service_provision", ["account.email"]),
        check(policy, PAY, "purpose-from-input", ["account.email"]),
        check(policy, PAY, "service_provision", ["account.secret_stuff"]),
    ):
        assert refusal is not None
        assert "evil" not in refusal.message
        assert "purpose-from-input" not in refusal.message
        assert "secret_stuff" not in refusal.message
        assert refusal.categories == ()


def test_an_authority_needs_a_reference_even_if_its_entry_forgets_to_say_so(
    policy: Policy,
) -> None:
    lax = policy.recipient(AUTH).model_copy(update={"legal_reference_required": False})
    changed = policy.model_copy(
        update={"recipients": tuple(lax if r.id == AUTH else r for r in policy.recipients)}
    )
    refusal = check(changed, AUTH, "legal_obligation", ["account.name"])
    assert refusal is not None
    assert refusal.rule == "recipients.authorities.legal_reference_required"


@given(data=st.data())
def test_a_passing_request_never_exceeds_recipient_purpose_or_sharing_rule(
    policy: Policy, data: st.DataObject
) -> None:
    recipient = data.draw(st.sampled_from([*policy.recipient_ids, "stranger"]))
    purpose = data.draw(st.sampled_from([*policy.purpose_ids, "invented"]))
    categories = data.draw(st.lists(st.sampled_from([*policy.category_ids, "made.up"]), max_size=6))
    reference = data.draw(st.one_of(st.none(), st.text(max_size=8)))
    if check(policy, recipient, purpose, categories, reference) is None:
        spec = policy.recipient(recipient)
        assert purpose in policy.sharing.allowed_purposes
        assert purpose in spec.purposes
        assert categories
        assert set(categories) <= set(spec.categories) & set(policy.purpose(purpose).categories)
        if spec.role.value == "authority":
            assert reference is not None
            assert reference.strip()


def test_third_countries_are_those_outside_the_eea() -> None:
    assert not rules.is_third_country("IE")
    assert not rules.is_third_country("NO")
    assert rules.is_third_country("US")
    assert rules.is_third_country("GB")


def test_erasure_reaches_every_recipient_that_received_data_except_exempt_ones(
    policy: Policy,
) -> None:
    received = {
        PAY: ["account.payment", "account.email"],
        AUTH: ["account.name"],
        "old_crm": ["account.name"],  # removed from the policy since: still holds the data
    }
    notices = rules.notices_for(policy, received, Event.ERASURE)
    assert notices == [
        rules.Notice("old_crm", ("account.name",)),
        rules.Notice(PAY, ("account.email", "account.payment")),
    ]


def test_a_correction_only_concerns_recipients_that_received_the_changed_category(
    policy: Policy,
) -> None:
    received = {PAY: ["account.payment", "account.email"], MAIL: ["account.email"]}
    assert rules.notices_for(policy, received, Event.RECTIFICATION, ["account.phone"]) == []
    assert rules.notices_for(policy, received, Event.RECTIFICATION, ["account.email"]) == [
        rules.Notice(MAIL, ("account.email",)),
        rules.Notice(PAY, ("account.email",)),
    ]


def test_notices_are_due_by_the_request_deadline(policy: Policy) -> None:
    assert rules.due_at(AT, policy) == datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    assert rules.is_overdue(State.QUEUED, AT, AT + timedelta(seconds=1))
    assert rules.is_overdue(State.FAILED, AT, AT + timedelta(days=1))
    assert not rules.is_overdue(State.ACKNOWLEDGED, AT, AT + timedelta(days=1))
    assert not rules.is_overdue(State.QUEUED, AT, AT)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("step", list(Step))
def test_the_transition_table_is_walked_exactly(state: State, step: Step) -> None:
    expected = {
        (State.QUEUED, Step.ATTEMPT_FAILED): State.QUEUED,
        (State.QUEUED, Step.EXHAUSTED): State.FAILED,
        (State.QUEUED, Step.DELIVERED): State.ACKNOWLEDGED,
        (State.QUEUED, Step.STAFF_ACK): State.ACKNOWLEDGED,
        (State.FAILED, Step.RETRY): State.QUEUED,
        (State.FAILED, Step.STAFF_ACK): State.ACKNOWLEDGED,
    }
    if (state, step) in expected:
        assert rules.transition(state, step) is expected[(state, step)]
    else:
        with pytest.raises(rules.InvalidTransition):
            rules.transition(state, step)


def test_acknowledged_is_final() -> None:
    assert not [step for (state, step) in rules.TRANSITIONS if state is State.ACKNOWLEDGED]


def test_attempts_retry_with_backoff_then_give_up() -> None:
    assert rules.after_attempt(1, True, AT) == rules.AttemptOutcome(State.ACKNOWLEDGED, None)
    assert rules.after_attempt(1, False, AT) == rules.AttemptOutcome(
        State.QUEUED, AT + timedelta(seconds=30)
    )
    assert rules.after_attempt(3, False, AT).next_attempt_at == AT + timedelta(minutes=2)
    last = rules.after_attempt(rules.MAX_ATTEMPTS, False, AT)
    assert last == rules.AttemptOutcome(State.FAILED, None)
    total = sum((rules.backoff(n) for n in range(1, rules.MAX_ATTEMPTS)), timedelta())
    assert timedelta(days=1) < total < timedelta(days=2)  # "about a day and a half"


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_backoff_never_shrinks_and_never_exceeds_its_cap(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert rules.BACKOFF_BASE <= rules.backoff(low) <= rules.backoff(high) <= rules.BACKOFF_CAP


def test_backoff_counts_from_one() -> None:
    assert rules.backoff(1) == rules.BACKOFF_BASE
    with pytest.raises(ValueError, match="from 1"):
        rules.backoff(0)
