"""Use cases for people: register, read for a purpose, correct, close, look up.

Every function that touches personal data writes its audit entry in the caller's transaction,
and every read goes through the policy decision first. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.comms.models import MarketingChoice
from safehold.notices import service as notices
from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.policy.rules import (
    Decision,
    Withheld,
    audited_purpose,
    decide,
    decide_for_anyone,
    declared_purpose,
)
from safehold.sharing import propagation
from safehold.subjects import emails, kept, reading, rules
from safehold.subjects.errors import (
    NoPersonFound,
    PurposeRefused,
    SubjectErased,
    SubjectNotFound,
)
from safehold.subjects.models import PersonalValue, Subject

# state_of and states_of live in subjects/state.py; callers still import them from here.
from safehold.subjects.state import state_of as state_of
from safehold.subjects.state import states_of as states_of
from safehold.vault import rules as vault_rules
from safehold.vault.service import EMAIL_INDEX, PHONE_INDEX, Vault

MARKETING = "communication.marketing"
LOOKUP = "subject.lookup"  # the audit action of a look-up by e-mail or phone
NO_ONE = "no person with that e-mail address or phone number"
LOOKUP_MAX = 10  # people one look-up may name: a household sharing a line, not a directory
WRITE_PURPOSE = "service_provision"  # registering and correcting data serves the contract
Fields = Mapping[str, Mapping[str, str]]  # category -> field -> plaintext


@dataclass(frozen=True)
class Context:
    """The collaborators every use case here needs. ``book`` (the published policy
    versions) tells which purposes a person must still accept after a material change."""

    vault: Vault
    policy: Policy
    clock: Clock
    book: PolicyBook | None = None


@dataclass(frozen=True)
class Person:
    """Whose data a purpose-scoped read shows, and their account status."""

    id: uuid.UUID
    status: str


@dataclass
class SubjectView:
    subject: Person
    decision: Decision
    data: dict[str, dict[str, str]] = field(default_factory=dict)
    erased: list[Withheld] = field(default_factory=list)


def get(session: Session, subject_id: uuid.UUID, *, allow_erased: bool = False) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise SubjectNotFound("no person with that id", details={"subject_id": str(subject_id)})
    if subject.status == "erased" and not allow_erased:
        raise SubjectErased("this person's data has been erased", details={})
    return subject


def _audit(
    session: Session, ctx: Context, actor: Actor, action: str, subject_id: uuid.UUID | None,
    categories: Iterable[str], purpose: str | None, outcome: str,
) -> None:  # fmt: skip
    """Append the entry; a purpose the policy does not declare is recorded as undeclared,
    never as sent (the audit log keeps what it is given for good)."""
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_id=subject_id,
        categories=categories,
        purpose=audited_purpose(ctx.policy, purpose),
        outcome=outcome,
        clock=ctx.clock,
    )


def _write_fields(
    session: Session, ctx: Context, subject_id: uuid.UUID, fields: Fields, by: str
) -> None:
    now = ctx.clock.now()
    existing = {
        (row.category, row.field): row
        for row in session.scalars(
            select(PersonalValue).where(
                PersonalValue.subject_id == subject_id, PersonalValue.category.in_(fields)
            )
        )
    }
    for category, values in fields.items():
        for name, plaintext in values.items():
            klass = ctx.policy.retention_class(category, name)
            blob = ctx.vault.encrypt(session, subject_id, klass, category, name, plaintext)
            row = existing.get((category, name))
            if row is None:
                session.add(
                    PersonalValue(
                        subject_id=subject_id,
                        category=category,
                        field=name,
                        retention_class=klass,
                        ciphertext=blob,
                        updated_at=now,
                        updated_by=by,
                    )
                )
            else:
                row.retention_class, row.ciphertext = klass, blob
                row.updated_at, row.updated_by = now, by


def _set_indexes(
    session: Session, ctx: Context, subject: Subject, email: str | None, phone: str | None
) -> None:
    if email is not None:
        index = ctx.vault.index(EMAIL_INDEX, email)
        emails.claim(session, subject.id, subject.email_index, index)
        subject.email_index = index
    if phone is not None:
        subject.phone_index = ctx.vault.index(PHONE_INDEX, phone)


def register(
    session: Session, ctx: Context, *, actor: Actor, contact: rules.Contact,
    marketing_opt_in: bool, policy_version: str,
) -> Subject:  # fmt: skip
    """Create a person from normalised contact details (:func:`rules.contact`)."""
    now = ctx.clock.now()
    subject = Subject(
        id=uuid.uuid4(),
        status="active",
        policy_version_shown=policy_version,
        created_at=now,
        last_activity_at=now,
        closed_at=None,
        erased_at=None,
    )
    fields = contact.fields
    _set_indexes(session, ctx, subject, contact.email, contact.phone)  # a taken address: here
    session.add(subject)
    _write_fields(session, ctx, subject.id, fields, by=str(actor))
    session.add(
        MarketingChoice(
            subject_id=subject.id,
            choice="opted_in" if marketing_opt_in else "opted_out",
            at=now,
            channel="sign_up",
            actor=str(actor),
            policy_version=policy_version,
        )
    )
    shown = notices.version_by_label(session, policy_version)
    if shown is not None:
        notices.record(
            session, subject.id, shown.seq, method="sign_up", channel="api", at=now,
            evidence=actor.request_id, actor=actor,
        )  # fmt: skip
    _audit(session, ctx, actor, "subject.register", subject.id, fields, WRITE_PURPOSE, "ok")
    session.flush()
    return subject


def read(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, purpose: str, actor: Actor,
    categories: Iterable[str] | None = None, reference: str | None = None,
) -> SubjectView:  # fmt: skip
    """The person's data for one purpose: only the categories the decision allows.

    After an erasure only what it kept under a legal basis remains, and only a purpose with
    the ``legal_obligation`` lawful basis may read it, with a ``reference`` (required, kept
    with the audit entry in :mod:`safehold.subjects.kept`); any other read answers 410.

    One query reads the person, what the decision needs to know about them and the values
    (with their data keys) of the categories the policy lets ``purpose`` use at all; the
    decision narrows that for this person, and only what it allows is decrypted. A refusal
    is audited and raised as :class:`PurposeRefused` (its entry is committed)."""
    wanted = list(categories) if categories is not None else list(rules.SUBJECT_CATEGORIES)
    found = reading.person_with_values(
        session, subject_id, purpose, reading.candidates(ctx.policy, purpose, wanted),
        ctx.book, ctx.clock.now(),
    )  # fmt: skip
    if found is None:
        raise SubjectNotFound("no person with that id", details={"subject_id": str(subject_id)})
    state, values = found
    person = Person(subject_id, state.account_status)
    action = "subject.read"
    if person.status == "erased":
        reference = kept.check(ctx.policy, purpose, reference)
        action = kept.ACTION
    decision = decide(ctx.policy, purpose, wanted, state)
    if decision.refused:  # the categories asked for, as far as the policy declares them
        asked = [c for c in wanted if c in ctx.policy.category_ids]
        _audit(session, ctx, actor, action, person.id, asked, purpose, "refused")
        raise PurposeRefused(
            decision.refused_message or "the policy refuses this purpose",
            details={
                "purpose": declared_purpose(ctx.policy, purpose),
                "rule": decision.refused_rule,
            },
        )
    view = SubjectView(person, decision)
    view.data, view.erased = _open(ctx.vault, person.id, values, set(decision.allowed))
    outcome = "partial" if decision.withheld else "allowed"
    _audit(session, ctx, actor, action, person.id, decision.allowed, purpose, outcome)
    if reference is not None and person.status == "erased":
        kept.record(session, ctx.clock, actor, person.id, purpose, decision.allowed, reference)
    return view


def _open(
    vault: Vault, subject_id: uuid.UUID, values: Iterable[reading.ValueRow], allowed: set[str]
) -> tuple[dict[str, dict[str, str]], list[Withheld]]:
    """Decrypt the values of the allowed categories (each data key unwrapped once); a value
    whose key was destroyed is reported erased."""
    data: dict[str, dict[str, str]] = {}
    erased: list[Withheld] = []
    openers: dict[str, Callable[[str, str, bytes], bytes]] = {}  # one per retention class
    for value in values:
        if value.category not in allowed:
            continue
        if value.wrapped_key is None or value.kek_version is None:  # its key was destroyed
            erased.append(Withheld(value.category, "vault.erased", "this data was erased"))
            continue
        open_field = openers.get(value.retention_class)
        if open_field is None:
            dek = vault.unwrapped(
                subject_id, value.retention_class, value.kek_version, value.wrapped_key
            )
            open_field = openers[value.retention_class] = vault_rules.field_opener(dek, subject_id)
        plaintext = open_field(value.category, value.field, value.ciphertext)
        data.setdefault(value.category, {})[value.field] = plaintext.decode("utf-8")
    return data, erased


def rectify(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, actor: Actor, source: str,
    contact: rules.Contact,
) -> Subject:  # fmt: skip
    """Correct data. ``source`` says who asked: the person, or an operator on their behalf."""
    subject = get(session, subject_id)
    fields = contact.fields
    _set_indexes(session, ctx, subject, contact.email, contact.phone)
    _write_fields(session, ctx, subject.id, fields, by=f"{source}:{actor}")
    gone = list(contact.removed)
    for category in gone:
        for row in session.scalars(
            select(PersonalValue).where(
                PersonalValue.subject_id == subject.id, PersonalValue.category == category
            )
        ):
            session.delete(row)
        if category == rules.PHONE:
            subject.phone_index = None
    changed = [*fields, *gone]
    _audit(
        session, ctx, actor, f"subject.rectify.{source}", subject.id, changed, WRITE_PURPOSE, "ok"
    )
    # Art. 19: recipients that received a changed category are told (in this transaction).
    propagation.notify_rectification(
        session, subject.id, categories=changed, policy=ctx.policy, clock=ctx.clock, actor=actor
    )
    session.flush()
    return subject


def close(session: Session, ctx: Context, subject_id: uuid.UUID, *, actor: Actor) -> Subject:
    """Close the account; retention periods counted from closure start now."""
    subject = get(session, subject_id)
    if subject.status == "active":
        subject.status, subject.closed_at = "closed", ctx.clock.now()
        _audit(session, ctx, actor, "subject.close", subject.id, [], WRITE_PURPOSE, "ok")
        session.flush()
    elif subject.status == rules.RESTRICTED and subject.closed_at is None:
        # Restricted stays restricted (the stricter state); lifting it leaves it closed.
        subject.closed_at = ctx.clock.now()
        _audit(session, ctx, actor, "subject.close", subject.id, [], WRITE_PURPOSE, "ok")
        session.flush()
    return subject


def _by_contact(
    ctx: Context, email: str | None, phone: str | None
) -> tuple[str, ColumnElement[bool]]:
    """The category a look-up uses and its blind-index condition (never a plaintext scan)."""
    if email is not None:
        return rules.EMAIL, emails.finds(ctx.vault.index(EMAIL_INDEX, email))
    if phone is not None:
        return rules.PHONE, Subject.phone_index == ctx.vault.index(PHONE_INDEX, phone)
    raise ValueError("lookup needs an email or a phone")


def lookup(
    session: Session, ctx: Context, *, actor: Actor, purpose: str,
    email: str | None = None, phone: str | None = None,
) -> Subject:  # fmt: skip
    """Find a person by e-mail or phone for ``purpose``: decided as a read of that category.

    Before anything is looked up, the policy's own rules (:func:`decide_for_anyone`: a
    category the purpose may not use, an ``aggregate_only`` purpose) refuse with
    :class:`PurposeRefused` — an answer that says nothing about anybody. Then the person's
    own state decides: an opt-out, an objection, a missing consent, a pending acceptance or
    the account's state refusing the purpose answers :class:`NoPersonFound`, exactly as an
    unknown address does (same query, same audit write, same 404), so the purpose never
    learns that a person it may not use exists. Every outcome is audited (``ok``,
    ``refused``, ``not_found``) and kept."""
    return lookup_all(
        session, ctx, actor=actor, purpose=purpose, email=email, phone=phone, limit=1
    )[0]


def lookup_all(
    session: Session, ctx: Context, *, actor: Actor, purpose: str,
    email: str | None = None, phone: str | None = None, limit: int = LOOKUP_MAX,
) -> list[Subject]:  # fmt: skip
    """Everyone holding this e-mail address or phone number whom ``purpose`` may know of,
    oldest account first, at most ``limit`` (an address is one person's; a phone number may
    be a household's). Each person found is decided and audited as :func:`lookup` decides
    its one; when none of them may be known, :class:`NoPersonFound`, as for nobody."""
    category, where = _by_contact(ctx, email, phone)
    anyone = decide_for_anyone(ctx.policy, purpose, [category])
    if anyone.refused:
        _audit(session, ctx, actor, LOOKUP, None, [category], purpose, "refused")
        raise PurposeRefused(
            anyone.refused_message or "the policy refuses this purpose",
            details={"purpose": declared_purpose(ctx.policy, purpose), "rule": anyone.refused_rule},
        )
    found = reading.people_where(session, where, purpose, ctx.book, ctx.clock.now(), limit=limit)
    if not found:
        _audit(session, ctx, actor, LOOKUP, None, [category], purpose, "not_found")
        raise NoPersonFound(NO_ONE)
    known = []
    for subject, state in found:
        refused = decide(ctx.policy, purpose, [category], state).refused
        _audit(session, ctx, actor, LOOKUP, subject.id, [category], purpose,
               "refused" if refused else "ok")  # fmt: skip
        if not refused:
            known.append(subject)
    if not known:
        raise NoPersonFound(NO_ONE)
    return known
