"""The enforcement decision: may this purpose use these categories of this person's data?

Every read of personal data asks :func:`decide` first. It is pure (no database, no clock,
no framework), so the same answer comes from the API, the CLI, the jobs and the tests, and
Hypothesis can check its promises: nothing outside the purpose is ever allowed, an opt-out
or objection always refuses, and more opt-outs never allow more.

Rule names are stable strings that appear in 403 responses and the audit log:

- ``policy.purposes.unknown`` / ``policy.categories.unknown`` — not declared in the policy;
- ``purposes.<id>.categories`` — the category is not listed for the purpose;
- ``purposes.<id>.opt_out`` / ``.objection`` / ``.consent`` / ``.aggregate_only`` /
  ``.pending_acceptance`` — a right the person used, or a condition of the purpose;
- ``subject.erased`` / ``subject.restricted`` / ``subject.closed`` — the account's state.

Account states, as decided for Safehold (docs/policy-format.md, "The decision"):
an *erased* person's data may only be used for purposes with the ``legal_obligation``
basis, and then only the categories a retention exception keeps through erasure; a
*restricted* person's data (GDPR Art. 18) only for ``legal_obligation`` purposes; a
*closed* account's data for ``legal_obligation`` purposes and purposes marked
``after_closure`` (the closure notices of ``communication.service``), never for marketing
or improvement. A purpose still pending explicit acceptance after a material change is
refused, except a ``legal_obligation`` one: the law does not wait for acceptance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from safehold.policy.document import LawfulBasis, Policy, Purpose
from safehold.policy.durations import add_duration

__all__ = [
    "AccountStatus",
    "Decision",
    "SubjectState",
    "Withheld",
    "add_duration",
    "audited_purpose",
    "content_hash",
    "decide",
    "decide_for_anyone",
    "declared_purpose",
    "retained_after_erasure",
]

AccountStatus = Literal["active", "closed", "restricted", "erased"]

UNKNOWN_PURPOSE = "policy.purposes.unknown"
UNKNOWN_CATEGORY = "policy.categories.unknown"
SUBJECT_ERASED = "subject.erased"
SUBJECT_RESTRICTED = "subject.restricted"
SUBJECT_CLOSED = "subject.closed"
# What the audit log records for a purpose the policy does not declare: never the submitted
# text (the log is append-only, so a value written there stays for good), and not a valid
# purpose id either, so it is never taken for one.
UNDECLARED_PURPOSE = "(undeclared)"
# Retention runs daily: data whose period ended is gone within this much after the end. The
# rendered policy says so and `safehold promises` allows exactly this much (decision 0027).
SWEEP_GRACE = "P1D"


@dataclass(frozen=True)
class SubjectState:
    """What the person has done that narrows the use of their data."""

    account_status: AccountStatus = "active"
    opted_out: frozenset[str] = frozenset()  # purpose ids the person opted out of
    objected: frozenset[str] = frozenset()  # purpose ids the person objected to
    consented: frozenset[str] = frozenset()  # purpose ids the person gave consent for
    pending_acceptance: frozenset[str] = frozenset()  # added by a material change, not accepted
    # The version a person who has not accepted a material change is still handled under
    # (None: the version in force applies fully); disclosures and retention read it.
    handled_under: int | None = None


@dataclass(frozen=True)
class Withheld:
    category: str
    rule: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The categories a purpose may use now, and why anything else was withheld or refused."""

    purpose: str
    allowed: tuple[str, ...]
    withheld: tuple[Withheld, ...]
    refused_rule: str | None
    refused_message: str | None

    @property
    def refused(self) -> bool:
        return self.refused_rule is not None


def purpose_rule(purpose_id: str, suffix: str) -> str:
    """``purposes.communication.marketing.opt_out`` — the rule name for a purpose's check."""
    return f"purposes.{purpose_id}.{suffix}"


def declared_purpose(policy: Policy, purpose: str) -> str | None:
    """``purpose`` when the policy declares it, else None: what an answer may name."""
    return purpose if purpose in policy.purpose_ids else None


def audited_purpose(policy: Policy, purpose: str | None) -> str | None:
    """The purpose as an audit entry records it: a declared id (or None), otherwise
    :data:`UNDECLARED_PURPOSE`."""
    if purpose is None:
        return None
    return declared_purpose(policy, purpose) or UNDECLARED_PURPOSE


def retained_after_erasure(policy: Policy) -> frozenset[str]:
    """Categories a retention exception keeps even after the person's erasure request."""
    return frozenset(
        category_id
        for rule in policy.retention
        for exc in rule.exceptions
        if exc.survives_erasure
        for category_id in (exc.categories or rule.categories)
    )


def content_hash(policy: Policy) -> str:
    """SHA-256 of the canonical JSON of the rules: the identity of a policy version.

    Comments, key order and YAML formatting do not change it; any change to a rule does.
    """
    data = policy.model_dump(mode="json", by_alias=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _state_refusal(purpose: Purpose, state: SubjectState) -> tuple[str, str] | None:
    legal = purpose.lawful_basis is LawfulBasis.LEGAL_OBLIGATION
    if state.account_status == "erased" and not legal:
        return SUBJECT_ERASED, (
            "the person's data has been erased; only data kept under a legal obligation remains"
        )
    if state.account_status == "restricted" and not legal:
        return SUBJECT_RESTRICTED, (
            "processing is restricted for this person (GDPR Art. 18); "
            "only legal obligations may use their data"
        )
    if state.account_status == "closed" and not (legal or purpose.after_closure):
        return SUBJECT_CLOSED, f"the account is closed; '{purpose.id}' ends with the account"
    return None


def _purpose_refusal(
    purpose: Purpose, state: SubjectState, aggregate: bool
) -> tuple[str, str] | None:
    pid = purpose.id
    if pid in state.opted_out:
        return purpose_rule(pid, "opt_out"), f"the person opted out of '{pid}'"
    if pid in state.objected:
        return purpose_rule(pid, "objection"), f"the person objected to '{pid}'"
    if purpose.lawful_basis is LawfulBasis.CONSENT and pid not in state.consented:
        return purpose_rule(pid, "consent"), f"'{pid}' needs consent the person has not given"
    if pid in state.pending_acceptance and purpose.lawful_basis is not LawfulBasis.LEGAL_OBLIGATION:
        return purpose_rule(pid, "pending_acceptance"), (
            f"'{pid}' was added or widened by a material policy change "
            "the person has not accepted yet"
        )
    if purpose.aggregate_only and not aggregate:
        return purpose_rule(pid, "aggregate_only"), (
            f"'{pid}' may only use data in aggregates, not to read one person's data"
        )
    return None


def decide(
    policy: Policy,
    purpose: str,
    categories: Iterable[str] | None,
    state: SubjectState = SubjectState(),
    *,
    aggregate: bool = False,
) -> Decision:
    """Decide which of ``categories`` (``None``: all the purpose's) ``purpose`` may use.

    A refusal has an empty ``allowed`` and names the rule that refused. Otherwise each
    requested category is either allowed or withheld with its rule; if none is allowed
    the decision is a refusal too (with the shared rule of the withheld ones, if any).
    """
    if purpose not in policy.purpose_ids:
        # The message never repeats the submitted text: it reaches 403 answers.
        return Decision(
            purpose, (), (), UNKNOWN_PURPOSE, "the purpose is not declared in the policy"
        )
    spec = policy.purpose(purpose)
    refusal = _state_refusal(spec, state) or _purpose_refusal(spec, state, aggregate)
    if refusal is not None:
        return Decision(purpose, (), (), *refusal)

    if isinstance(categories, str):  # one id passed bare: not a sequence of letters
        categories = (categories,)
    requested = spec.categories if categories is None else tuple(dict.fromkeys(categories))
    declared = set(policy.category_ids)
    kept = retained_after_erasure(policy) if state.account_status == "erased" else None
    allowed: list[str] = []
    withheld: list[Withheld] = []
    for category in requested:
        if category not in declared:
            withheld.append(
                Withheld(category, UNKNOWN_CATEGORY, "the category is not declared in the policy")
            )
        elif category not in spec.categories:
            withheld.append(
                Withheld(
                    category,
                    purpose_rule(purpose, "categories"),
                    f"'{purpose}' may not use '{category}'",
                )
            )
        elif kept is not None and category not in kept:
            withheld.append(
                Withheld(category, SUBJECT_ERASED, f"'{category}' was erased with the account")
            )
        else:
            allowed.append(category)

    if allowed:
        return Decision(purpose, tuple(allowed), tuple(withheld), None, None)
    rules = {item.rule for item in withheld}
    rule = rules.pop() if len(rules) == 1 else purpose_rule(purpose, "categories")
    message = (
        f"none of the requested categories may be used for '{purpose}'"
        if withheld
        else "no categories were requested"
    )
    return Decision(purpose, (), tuple(withheld), rule, message)


def decide_for_anyone(policy: Policy, purpose: str, categories: Iterable[str] | None) -> Decision:
    """The most :func:`decide` can allow anybody: the decision for an active person who used
    no right against ``purpose`` and gave any consent it needs.

    Only the policy's own rules can refuse here (an unknown purpose or category, a category
    outside the purpose, ``aggregate_only``), so asking it before looking anybody up — a
    look-up by e-mail or phone — refuses without learning, or saying, whether the person
    exists. Nothing it refuses is allowed for any person, whatever their state."""
    anyone = SubjectState(consented=frozenset({purpose}))
    return decide(policy, purpose, categories, anyone)
