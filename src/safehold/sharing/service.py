"""Disclosures: data leaves Safehold for a third party only as the policy allows, and every
disclosure is on record. Services flush, never commit.

A disclosure request is checked as a whole first (:func:`rules.check_request`: recipient,
purpose, sharing rule, categories, reference); a refusal there discloses nothing. Then each
person is decided on their own (:func:`decide` with their state, read for the whole batch at
once): an erased, restricted or closed person, or one still handled under a version that does
not allow this disclosure (``policy.not_accepted``, decision 0022), is reported with the rule
and nothing of theirs is disclosed, while the others are. Each person's decryption is audited,
and the disclosure record names who asked, which people, which categories, the recipient, the
purpose, the reference and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.policy import Policy
from safehold.policy.rules import SUBJECT_ERASED, SubjectState, Withheld, content_hash, decide
from safehold.sharing import rules
from safehold.sharing.errors import DisclosureRefused
from safehold.sharing.models import Disclosure, DisclosureSubject

# The records read back (a person's list, the staff list) live in sharing/records.py;
# callers still import them from here.
from safehold.sharing.records import PersonDisclosure as PersonDisclosure
from safehold.sharing.records import disclosures_for as disclosures_for
from safehold.sharing.records import get_disclosure as get_disclosure
from safehold.sharing.records import list_disclosures as list_disclosures
from safehold.sharing.records import people_of as people_of
from safehold.subjects import payments
from safehold.subjects.models import PersonalValue, Subject
from safehold.subjects.rules import PAYMENT, SUBJECT_CATEGORIES
from safehold.subjects.service import Context, states_of
from safehold.vault.errors import DataKeyDestroyed

ACTION = "disclosure.create"
UNDECLARED = "(undeclared)"  # a recipient or purpose the policy does not declare, never echoed
NOT_FOUND_RULE = "subject.not_found"
# Usage, device and network data live in the events store, which disclosures do not read
# yet: such categories are withheld with this rule rather than silently sent empty.
NOT_INCLUDED_RULE = "sharing.events_not_included"


@dataclass
class PersonResult:
    """One person in a disclosure: their data package, or why nothing of theirs went out."""

    subject_id: uuid.UUID
    outcome: str  # disclosed | refused | not_found
    rule: str | None = None
    message: str | None = None
    data: dict[str, dict[str, str]] = field(default_factory=dict)
    payment_methods: list[payments.PaymentView] | None = None
    withheld: list[Withheld] = field(default_factory=list)
    nothing_held: list[str] = field(default_factory=list)

    @property
    def sent(self) -> list[str]:
        """The categories whose data is in the package."""
        return [*self.data, *([PAYMENT] if self.payment_methods else [])]


@dataclass
class DisclosureResult:
    disclosure: Disclosure
    people: list[PersonResult]


_HASHES: dict[int, tuple[Policy, str]] = {}  # id -> (the policy, held so the id stays its)


def _policy_hash(policy: Policy) -> str:
    """The policy's content hash, computed once per policy object (it is immutable)."""
    cached = _HASHES.get(id(policy))
    if cached is None or cached[0] is not policy:
        if len(_HASHES) >= 8:  # a few versions in force over a process's life
            _HASHES.clear()
        cached = _HASHES[id(policy)] = (policy, content_hash(policy))
    return cached[1]


def _audit(
    session: Session, ctx: Context, actor: Actor, subject_id: uuid.UUID,
    categories: Iterable[str], purpose: str | None, outcome: str,
) -> None:  # fmt: skip
    audit.record(
        session,
        actor=actor,
        action=ACTION,
        subject_id=subject_id,
        categories=categories,
        purpose=purpose,
        outcome=outcome,
        clock=ctx.clock,
    )


def _package(
    session: Session, ctx: Context, subject: Subject, allowed: Sequence[str], result: PersonResult
) -> None:
    """Decrypt exactly the allowed categories of one person into ``result``."""
    for category in allowed:
        if category not in SUBJECT_CATEGORIES:
            result.withheld.append(
                Withheld(
                    category,
                    NOT_INCLUDED_RULE,
                    "event data (usage, device, network) is not part of disclosures yet",
                )
            )
    readable = [c for c in allowed if c in SUBJECT_CATEGORIES]
    ctx.vault.preload(session, subject.id)
    rows = session.scalars(
        select(PersonalValue)
        .where(PersonalValue.subject_id == subject.id, PersonalValue.category.in_(readable))
        .order_by(PersonalValue.category, PersonalValue.field)
    )
    for row in rows:
        try:
            value = ctx.vault.decrypt(
                session, subject.id, row.retention_class, row.category, row.field, row.ciphertext
            )
        except DataKeyDestroyed:
            result.withheld.append(Withheld(row.category, "vault.erased", "this data was erased"))
            continue
        result.data.setdefault(row.category, {})[row.field] = value
    if PAYMENT in readable:
        result.payment_methods = payments.views(session, ctx, subject.id)
    erased = {w.category for w in result.withheld}
    result.nothing_held = [c for c in readable if c not in result.sent and c not in erased]


def _record(
    ctx: Context, actor: Actor, *, recipient: str, role: str, purpose: str,
    categories: Sequence[str], reference: str | None,
) -> Disclosure:  # fmt: skip
    return Disclosure(
        id=uuid.uuid4(),
        at=ctx.clock.now(),
        recipient_id=recipient,
        recipient_role=role,
        purpose=purpose,
        categories=list(categories),
        reference=reference,
        actor=str(actor),
        request_id=actor.request_id,
        policy_hash=_policy_hash(ctx.policy),
        people_disclosed=0,
        people_refused=0,
    )


def _refuse(
    session: Session, ctx: Context, actor: Actor, refusal: rules.Refusal, *,
    ids: Sequence[uuid.UUID], recipient: str, purpose: str, categories: Sequence[str],
    reference: str | None,
) -> DisclosureRefused:  # fmt: skip
    """Audit the refused attempt for every listed person who exists, record it (a disclosure
    that sent nothing, each of those people refused with the rule, so that their
    ``include_refused`` list shows it), and build the error. Only declared ids reach the
    audit log, the record or the error: submitted values are never echoed."""
    declared = [c for c in categories if c in ctx.policy.category_ids]
    known_purpose = purpose if purpose in ctx.policy.purpose_ids else None
    existing = sorted(session.scalars(select(Subject.id).where(Subject.id.in_(ids))), key=ids.index)
    for subject_id in existing:
        _audit(session, ctx, actor, subject_id, declared, known_purpose, "refused")
    if existing:
        known = recipient in ctx.policy.recipient_ids
        record = _record(
            ctx, actor, recipient=recipient if known else UNDECLARED,
            role=ctx.policy.recipient(recipient).role.value if known else UNDECLARED,
            purpose=known_purpose or UNDECLARED, categories=declared, reference=reference,
        )  # fmt: skip
        record.people_refused = len(existing)
        session.add(record)
        session.flush()  # the record before its people (PostgreSQL checks the foreign key)
        session.add_all(
            DisclosureSubject(
                disclosure_id=record.id,
                subject_id=subject_id,
                outcome="refused",
                categories=[],
                rule=refusal.rule,
            )
            for subject_id in existing
        )
    return DisclosureRefused(
        refusal.message, details={"rule": refusal.rule, "categories": list(refusal.categories)}
    )


def disclose(
    session: Session, ctx: Context, *, actor: Actor, recipient: str, purpose: str,
    subject_ids: Sequence[uuid.UUID], categories: Sequence[str], reference: str | None,
) -> DisclosureResult:  # fmt: skip
    """Disclose ``categories`` of each listed person to ``recipient`` for ``purpose``.

    Raises :class:`DisclosureRefused` (nothing disclosed) when the policy refuses the request
    as a whole; otherwise returns every person's package or refusal, already recorded."""
    ids = list(dict.fromkeys(subject_ids))
    wanted = list(dict.fromkeys(categories))
    reference = reference.strip() if reference and reference.strip() else None
    refusal = rules.check_request(
        ctx.policy, recipient=recipient, purpose=purpose, categories=wanted, reference=reference
    )
    if refusal is not None:
        raise _refuse(
            session, ctx, actor, refusal, ids=ids, recipient=recipient, purpose=purpose,
            categories=wanted, reference=reference,
        )  # fmt: skip

    now = ctx.clock.now()
    disclosure = _record(
        ctx, actor, recipient=recipient, role=ctx.policy.recipient(recipient).role.value,
        purpose=purpose, categories=wanted, reference=reference,
    )  # fmt: skip
    session.add(disclosure)
    found = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(ids)))}
    states = states_of(session, found.values(), ctx.book, now)
    people: list[PersonResult] = []
    for subject_id in ids:
        subject = found.get(subject_id)
        if subject is None:
            people.append(
                PersonResult(subject_id, "not_found", NOT_FOUND_RULE, "no person with that id")
            )
            continue
        people.append(_one(session, ctx, actor, disclosure, subject, states[subject_id], wanted))
    disclosure.people_disclosed = sum(p.outcome == "disclosed" for p in people)
    disclosure.people_refused = len(people) - disclosure.people_disclosed
    session.flush()
    return DisclosureResult(disclosure, people)


def _not_accepted(
    ctx: Context, disclosure: Disclosure, state: SubjectState, wanted: Sequence[str]
) -> rules.Refusal | None:
    """The refusal when the version the person is still handled under does not allow this."""
    baseline = (
        ctx.book.version(state.handled_under)
        if ctx.book is not None and state.handled_under is not None
        else None
    )
    if baseline is None:
        return None
    return rules.not_accepted(
        baseline.policy, ctx.policy, label=f"v{baseline.facts.seq}",
        recipient=disclosure.recipient_id, purpose=disclosure.purpose, categories=wanted,
        reference=disclosure.reference,
    )  # fmt: skip


def _one(
    session: Session, ctx: Context, actor: Actor, disclosure: Disclosure, subject: Subject,
    state: SubjectState, wanted: Sequence[str],
) -> PersonResult:  # fmt: skip
    purpose = disclosure.purpose
    decision = decide(ctx.policy, purpose, wanted, state)
    rule, message = decision.refused_rule, decision.refused_message
    if subject.status == "erased" and rule is None and disclosure.reference is None:
        # What an erasure kept goes out only for a legal obligation (the decision refuses
        # every other purpose) and only against a stated reference.
        rule, message = (
            SUBJECT_ERASED,
            ("this person's data has been erased; what was kept goes out only with a reference"),
        )
    elif rule is None and (held := _not_accepted(ctx, disclosure, state, wanted)) is not None:
        rule, message = held.rule, held.message
    if rule is not None:
        _audit(session, ctx, actor, subject.id, wanted, purpose, "refused")
        session.add(
            DisclosureSubject(
                disclosure_id=disclosure.id,
                subject_id=subject.id,
                outcome="refused",
                categories=[],
                rule=rule,
            )
        )
        return PersonResult(subject.id, "refused", rule, message)
    result = PersonResult(subject.id, "disclosed", withheld=list(decision.withheld))
    _package(session, ctx, subject, decision.allowed, result)
    outcome = "partial" if result.withheld else "disclosed"
    read = [c for c in decision.allowed if c in SUBJECT_CATEGORIES]
    _audit(session, ctx, actor, subject.id, read, purpose, outcome)
    session.add(
        DisclosureSubject(
            disclosure_id=disclosure.id,
            subject_id=subject.id,
            outcome="disclosed",
            categories=result.sent,
            rule=None,
        )
    )
    return result


@dataclass(frozen=True)
class RecipientView:
    """A recipient as the policy declares it, with how its notices are delivered."""

    id: str
    name: str
    role: str
    description: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    country: str
    third_country: bool
    agreement: str | None
    transfer_safeguard: str | None
    legal_reference_required: bool
    notify_on_erasure: bool
    delivery: str  # webhook | manual


def recipients(ctx: Context, webhooks: Iterable[str]) -> list[RecipientView]:
    hooked = set(webhooks)
    return [
        RecipientView(
            id=r.id,
            name=r.name,
            role=r.role.value,
            description=r.description,
            purposes=r.purposes,
            categories=r.categories,
            country=r.country,
            third_country=rules.is_third_country(r.country),
            agreement=r.agreement,
            transfer_safeguard=r.transfer_safeguard,
            legal_reference_required=rules.reference_required(ctx.policy, r.id),
            notify_on_erasure=r.notify_on_erasure,
            delivery="webhook" if r.id in hooked else "manual",
        )
        for r in ctx.policy.recipients
    ]
