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
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.policy import Policy
from safehold.policy.rules import SUBJECT_ERASED, SubjectState, Withheld, content_hash, decide
from safehold.sharing import deliveries, rules
from safehold.sharing.errors import DisclosureNotFound, DisclosureRefused
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects import payments
from safehold.subjects.models import PersonalValue, Subject
from safehold.subjects.rules import PAYMENT, SUBJECT_CATEGORIES
from safehold.subjects.service import Context, states_of
from safehold.vault.errors import DataKeyDestroyed

ACTION = "disclosure.create"
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


def _refuse(
    session: Session, ctx: Context, actor: Actor, refusal: rules.Refusal, *,
    ids: Sequence[uuid.UUID], purpose: str, categories: Sequence[str],
) -> DisclosureRefused:  # fmt: skip
    """Audit the refused attempt for every listed person who exists, and build the error.
    Only declared ids reach the audit log or the error: submitted values are never echoed."""
    declared = [c for c in categories if c in ctx.policy.category_ids]
    known_purpose = purpose if purpose in ctx.policy.purpose_ids else None
    existing = session.scalars(select(Subject.id).where(Subject.id.in_(ids))).all()
    for subject_id in sorted(existing, key=ids.index):
        _audit(session, ctx, actor, subject_id, declared, known_purpose, "refused")
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
        raise _refuse(session, ctx, actor, refusal, ids=ids, purpose=purpose, categories=wanted)

    now = ctx.clock.now()
    disclosure = Disclosure(
        id=uuid.uuid4(),
        at=now,
        recipient_id=recipient,
        recipient_role=ctx.policy.recipient(recipient).role.value,
        purpose=purpose,
        categories=wanted,
        reference=reference,
        actor=str(actor),
        request_id=actor.request_id,
        policy_hash=_policy_hash(ctx.policy),
        people_disclosed=0,
        people_refused=0,
    )
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


@dataclass(frozen=True)
class PersonDisclosure:
    """One line of "who received my data and why", for the access export and the privacy
    center: the recipient as the policy describes it, the purpose, the categories, the
    reference and the date."""

    disclosure_id: uuid.UUID | None  # None: received in the course of the service
    at: datetime
    recipient_id: str
    recipient_name: str
    recipient_role: str
    country: str | None
    purpose: str
    purpose_label: str
    categories: tuple[str, ...]
    reference: str | None
    outcome: str
    rule: str | None
    count: int = 1  # e-mails handed to the provider, for a delivery
    first_at: datetime | None = None  # the first of them


def _purpose_label(policy: Policy, purpose: str) -> str:
    return policy.purpose(purpose).label if purpose in policy.purpose_ids else purpose


def disclosures_for(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, include_refused: bool = False
) -> list[PersonDisclosure]:
    """A person's disclosures, oldest first. By default only those that sent them data;
    ``include_refused`` adds the attempts the policy refused for them (with the rule). Then
    what processors received in the course of the service (``deliveries``), one line per
    recipient, purpose and set of categories, dated by the last time."""
    query = (
        select(Disclosure, DisclosureSubject)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .where(DisclosureSubject.subject_id == subject_id)
        .order_by(Disclosure.at, Disclosure.id)
    )
    if not include_refused:
        query = query.where(DisclosureSubject.outcome == "disclosed")
    lines: list[PersonDisclosure] = []
    recipients = ctx.policy.recipient_ids
    for disclosure, person in session.execute(query):
        if person.outcome == "disclosed" and not person.categories:
            continue  # nothing of theirs was held for those categories: nothing went out
        known = disclosure.recipient_id in ctx.policy.recipient_ids
        spec = ctx.policy.recipient(disclosure.recipient_id) if known else None
        lines.append(
            PersonDisclosure(
                disclosure_id=disclosure.id,
                at=disclosure.at,
                recipient_id=disclosure.recipient_id,
                recipient_name=spec.name if spec else disclosure.recipient_id,
                recipient_role=disclosure.recipient_role,
                country=spec.country if spec else None,
                purpose=disclosure.purpose,
                purpose_label=_purpose_label(ctx.policy, disclosure.purpose),
                categories=tuple(person.categories),
                reference=disclosure.reference,
                outcome=person.outcome,
                rule=person.rule,
            )
        )
    for d in deliveries.deliveries_for(session, subject_id):
        spec = ctx.policy.recipient(d.recipient_id) if d.recipient_id in recipients else None
        lines.append(
            PersonDisclosure(
                disclosure_id=None, at=d.last_at, recipient_id=d.recipient_id,
                recipient_name=spec.name if spec else d.recipient_id,
                recipient_role=spec.role.value if spec else "processor",
                country=spec.country if spec else None, purpose=d.purpose,
                purpose_label=_purpose_label(ctx.policy, d.purpose), categories=d.categories,
                reference=None, outcome="disclosed", rule=None, count=d.count,
                first_at=d.first_at,
            )
        )  # fmt: skip
    return lines


def list_disclosures(
    session: Session, *, recipient: str | None = None, offset: int = 0, limit: int = 100
) -> list[Disclosure]:
    """Disclosure records, newest first (the people in each: :func:`people_of`)."""
    query = select(Disclosure).order_by(Disclosure.at.desc(), Disclosure.id)
    if recipient is not None:
        query = query.where(Disclosure.recipient_id == recipient)
    return list(session.scalars(query.offset(offset).limit(limit)))


def get_disclosure(session: Session, disclosure_id: uuid.UUID) -> Disclosure:
    disclosure = session.get(Disclosure, disclosure_id)
    if disclosure is None:
        raise DisclosureNotFound("no disclosure with that id")
    return disclosure


def people_of(session: Session, disclosure_id: uuid.UUID) -> list[DisclosureSubject]:
    return list(
        session.scalars(
            select(DisclosureSubject)
            .where(DisclosureSubject.disclosure_id == disclosure_id)
            .order_by(DisclosureSubject.subject_id)
        )
    )
