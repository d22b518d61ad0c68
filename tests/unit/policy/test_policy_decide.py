"""The enforcement decision: examples on the default policy, then Hypothesis properties on
generated policies and subject states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

from hypothesis import given
from hypothesis import strategies as st

from safehold.policy import Policy, SubjectState, decide, decide_for_anyone, load_policy
from safehold.policy.document import LawfulBasis
from safehold.policy.rules import AccountStatus, retained_after_erasure

Edit = Callable[[Policy, Callable[[dict[str, Any]], None]], Policy]
DEFAULT = load_policy(Path(__file__).resolve().parents[3] / "policies" / "default.yaml")
MARKETING = "communication.marketing"


def test_unknown_purpose_is_refused() -> None:
    decision = decide(DEFAULT, "profiling", None)
    assert decision.refused
    assert decision.refused_rule == "policy.purposes.unknown"
    assert "profiling" not in (decision.refused_message or "")  # never repeats what was sent
    assert decision.allowed == ()


def test_no_categories_means_everything_the_purpose_may_see() -> None:
    decision = decide(DEFAULT, "service_provision", None)
    assert not decision.refused
    assert decision.allowed == DEFAULT.purpose("service_provision").categories
    assert decision.withheld == ()


def test_categories_outside_the_purpose_are_withheld_with_their_rule() -> None:
    decision = decide(DEFAULT, MARKETING, ["account.email", "account.payment", "account.shoe_size"])
    assert decision.allowed == ("account.email",)
    assert [(w.category, w.rule) for w in decision.withheld] == [
        ("account.payment", "purposes.communication.marketing.categories"),
        ("account.shoe_size", "policy.categories.unknown"),
    ]


def test_nothing_allowed_is_a_refusal() -> None:
    decision = decide(DEFAULT, MARKETING, ["account.payment", "usage.action"])
    assert decision.refused
    assert decision.refused_rule == "purposes.communication.marketing.categories"
    assert len(decision.withheld) == 2
    empty = decide(DEFAULT, MARKETING, [])
    assert empty.refused
    assert empty.refused_message == "no categories were requested"


def test_requested_categories_are_deduplicated_and_a_bare_id_is_one_category() -> None:
    assert decide(DEFAULT, MARKETING, ["account.email", "account.email"]).allowed == (
        "account.email",
    )
    assert decide(DEFAULT, MARKETING, "account.email").allowed == ("account.email",)


def test_marketing_opt_out_refuses_marketing_only() -> None:
    state = SubjectState(opted_out=frozenset({MARKETING}))
    decision = decide(DEFAULT, MARKETING, None, state)
    assert decision.refused_rule == "purposes.communication.marketing.opt_out"
    assert decide(DEFAULT, "communication.service", None, state).allowed == (
        "account.name",
        "account.email",
        "account.phone",
    )


def test_objection_refuses_the_purpose() -> None:
    state = SubjectState(objected=frozenset({"platform_improvement"}))
    decision = decide(DEFAULT, "platform_improvement", None, state, aggregate=True)
    assert decision.refused_rule == "purposes.platform_improvement.objection"


def test_aggregate_only_purpose_refuses_individual_reads() -> None:
    individual = decide(DEFAULT, "platform_improvement", ["usage.action"])
    assert individual.refused_rule == "purposes.platform_improvement.aggregate_only"
    aggregate = decide(DEFAULT, "platform_improvement", ["usage.action"], aggregate=True)
    assert aggregate.allowed == ("usage.action",)


def test_consent_purpose_needs_consent_and_stops_on_withdrawal(edited: Edit) -> None:
    def to_consent(data: dict[str, Any]) -> None:
        purpose = next(p for p in data["purposes"] if p["id"] == MARKETING)
        purpose["lawful_basis"] = "consent"

    policy = edited(DEFAULT, to_consent)
    assert (
        decide(policy, MARKETING, None).refused_rule == "purposes.communication.marketing.consent"
    )
    consented = SubjectState(consented=frozenset({MARKETING}))
    assert decide(policy, MARKETING, None, consented).allowed == ("account.name", "account.email")
    withdrawn = SubjectState(consented=frozenset({MARKETING}), opted_out=frozenset({MARKETING}))
    assert decide(policy, MARKETING, None, withdrawn).refused_rule == (
        "purposes.communication.marketing.opt_out"
    )


def test_erased_person_only_legal_retention_remains() -> None:
    erased = SubjectState(account_status="erased")
    assert decide(DEFAULT, "service_provision", None, erased).refused_rule == "subject.erased"
    assert decide(DEFAULT, MARKETING, None, erased).refused_rule == "subject.erased"
    legal = decide(DEFAULT, "legal_obligation", None, erased)
    assert set(legal.allowed) == retained_after_erasure(DEFAULT)
    assert set(legal.allowed) == {"account.name", "account.address", "account.payment"}
    assert {w.rule for w in legal.withheld} == {"subject.erased"}
    only_erased = decide(DEFAULT, "legal_obligation", ["network.ip"], erased)
    assert only_erased.refused_rule == "subject.erased"


def test_restricted_person_only_legal_obligations() -> None:
    restricted = SubjectState(account_status="restricted")
    for purpose in DEFAULT.purposes:
        decision = decide(DEFAULT, purpose.id, None, restricted, aggregate=True)
        if purpose.lawful_basis is LawfulBasis.LEGAL_OBLIGATION:
            assert decision.allowed == purpose.categories
        else:
            assert decision.refused_rule == "subject.restricted"


def test_closed_account_keeps_legal_obligations_and_closure_notices() -> None:
    closed = SubjectState(account_status="closed")
    outcomes = {
        p.id: decide(DEFAULT, p.id, None, closed, aggregate=True).refused_rule
        for p in DEFAULT.purposes
    }
    assert outcomes == {
        "service_provision": "subject.closed",
        "platform_improvement": "subject.closed",
        "communication.service": None,
        MARKETING: "subject.closed",
        "legal_obligation": None,
    }


def test_purpose_pending_acceptance_is_refused_except_legal_obligations() -> None:
    pending = SubjectState(
        pending_acceptance=frozenset({"communication.service", "legal_obligation"})
    )
    decision = decide(DEFAULT, "communication.service", None, pending)
    assert decision.refused_rule == "purposes.communication.service.pending_acceptance"
    assert not decide(DEFAULT, "legal_obligation", None, pending).refused
    assert not decide(DEFAULT, "service_provision", None, pending).refused


# --- Properties -------------------------------------------------------------------------

CATEGORY_POOL = ("account.name", "account.email", "account.payment", "usage.login", "network.ip")
PURPOSE_POOL = ("service_provision", "platform_improvement", MARKETING, "legal_obligation", "x.y")


def _category(category_id: str) -> dict[str, Any]:
    group = category_id.split(".")[0]
    return {
        "id": category_id,
        "label": category_id.title(),
        "group": group,
        "source": "provided",
        "description": "Generated.",
        "fields": [{"name": "value", "label": "value"}],
    }


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Schema-valid policies with random purposes, flags and retention exceptions."""
    purposes = [
        {
            "id": pid,
            "label": pid,
            "description": "Generated.",
            "lawful_basis": draw(st.sampled_from(list(LawfulBasis))).value,
            "categories": draw(
                st.lists(st.sampled_from(CATEGORY_POOL), min_size=1, max_size=5, unique=True)
            ),
            "opt_out": draw(st.booleans()),
            "objectable": draw(st.booleans()),
            "aggregate_only": draw(st.booleans()),
            "after_closure": draw(st.booleans()),
        }
        for pid in draw(
            st.lists(st.sampled_from(PURPOSE_POOL), min_size=1, max_size=5, unique=True)
        )
    ]
    retention = [
        {
            "id": cid.replace(".", "_"),
            "label": cid,
            "categories": [cid],
            "period": "P30D",
            "from": "collected",
            "action": "delete",
            "reason": "Generated.",
            "exceptions": [
                {
                    "id": f"{cid.replace('.', '_')}_kept",
                    "description": "kept",
                    "period": "P1Y",
                    "from": "collected",
                    "legal_basis": "law",
                    "reason": "law",
                    "survives_erasure": True,
                }
            ]
            if draw(st.booleans())
            else [],
        }
        for cid in CATEGORY_POOL
    ]
    data = DEFAULT.model_dump(mode="json", by_alias=True)
    data.update(
        categories=[_category(c) for c in CATEGORY_POOL],
        purposes=purposes,
        recipients=[],
        retention=retention,
    )
    return Policy.model_validate(data)


purpose_ids = st.sampled_from((*PURPOSE_POOL, "unknown.purpose"))
purpose_sets = st.frozensets(purpose_ids, max_size=4)
states = st.builds(
    SubjectState,
    account_status=st.sampled_from(get_args(AccountStatus)),
    opted_out=purpose_sets,
    objected=purpose_sets,
    consented=purpose_sets,
    pending_acceptance=purpose_sets,
)
requests = st.none() | st.lists(
    st.sampled_from((*CATEGORY_POOL, "device.info", "unknown.category")), max_size=6
)


@given(policies(), purpose_ids, requests, states, st.booleans())
def test_allowed_is_within_the_purpose_and_the_request(
    policy: Policy, purpose: str, categories: list[str] | None, state: SubjectState, agg: bool
) -> None:
    decision = decide(policy, purpose, categories, state, aggregate=agg)
    if purpose not in policy.purpose_ids:
        assert decision.refused_rule == "policy.purposes.unknown"
        return
    permitted = set(policy.purpose(purpose).categories)
    if categories is not None:
        permitted &= set(categories)
    assert set(decision.allowed) <= permitted
    assert decision.refused == (decision.allowed == ())
    if not decision.refused:
        requested = list(dict.fromkeys(categories if categories is not None else permitted))
        decided = [*decision.allowed, *(w.category for w in decision.withheld)]
        assert sorted(decided) == sorted(requested)


@given(policies(), purpose_ids, requests, states, st.booleans(), st.booleans())
def test_opt_out_or_objection_always_refuses(
    policy: Policy,
    purpose: str,
    categories: list[str] | None,
    state: SubjectState,
    agg: bool,
    by_objection: bool,
) -> None:
    if by_objection:
        state = replace(state, objected=state.objected | {purpose})
    else:
        state = replace(state, opted_out=state.opted_out | {purpose})
    decision = decide(policy, purpose, categories, state, aggregate=agg)
    assert decision.refused
    assert decision.allowed == ()


@given(policies(), purpose_ids, requests, states, purpose_ids, st.booleans())
def test_adding_an_opt_out_never_allows_more(
    policy: Policy,
    purpose: str,
    categories: list[str] | None,
    state: SubjectState,
    opt_out: str,
    agg: bool,
) -> None:
    before = decide(policy, purpose, categories, state, aggregate=agg)
    more = replace(state, opted_out=state.opted_out | {opt_out})
    after = decide(policy, purpose, categories, more, aggregate=agg)
    assert set(after.allowed) <= set(before.allowed)


@given(policies(), purpose_ids, requests, states, st.booleans())
def test_a_stricter_account_status_never_allows_more(
    policy: Policy, purpose: str, categories: list[str] | None, state: SubjectState, agg: bool
) -> None:
    active = replace(state, account_status="active")
    allowed_active = set(decide(policy, purpose, categories, active, aggregate=agg).allowed)
    for status in ("closed", "restricted", "erased"):
        stricter = replace(state, account_status=status)
        assert set(decide(policy, purpose, categories, stricter, aggregate=agg).allowed) <= (
            allowed_active
        )


@given(policies(), purpose_ids, requests, states, st.booleans())
def test_decide_is_deterministic(
    policy: Policy, purpose: str, categories: list[str] | None, state: SubjectState, agg: bool
) -> None:
    first = decide(policy, purpose, categories, state, aggregate=agg)
    again = decide(
        policy, purpose, None if categories is None else list(categories), state, aggregate=agg
    )
    assert first == again


@given(policies(), purpose_ids, requests, states)
def test_the_decision_for_anyone_allows_at_least_what_any_person_allows(
    policy: Policy, purpose: str, categories: list[str] | None, state: SubjectState
) -> None:
    """What a look-up refuses before it knows who the person is, no person's state allows."""
    anyone = decide_for_anyone(policy, purpose, categories)
    person = decide(policy, purpose, categories, state)
    assert set(person.allowed) <= set(anyone.allowed)
    if anyone.refused:
        assert person.refused


def test_the_decision_for_anyone_refuses_only_by_the_policys_own_rules() -> None:
    phone = decide_for_anyone(DEFAULT, MARKETING, ["account.phone"])
    assert phone.refused_rule == "purposes.communication.marketing.categories"
    assert decide_for_anyone(DEFAULT, MARKETING, ["account.email"]).allowed == ("account.email",)
    improvement = decide_for_anyone(DEFAULT, "platform_improvement", ["usage.login"])
    assert improvement.refused_rule == "purposes.platform_improvement.aggregate_only"
    assert decide_for_anyone(DEFAULT, "profiling", None).refused_rule == "policy.purposes.unknown"
