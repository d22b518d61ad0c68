"""Use cases for messages: submit one (templates checked, one outbox row per recipient),
count its deliveries, list its recipients, and queue failed deliveries again.

Submitting reads no personal data: it decides, per recipient, whether the policy lets the
message's purpose reach them now (and whether their address is suppressed), and records the
answer. The worker decides again, reads and decrypts, and renders at the moment of sending
(:mod:`safehold.comms.jobs`). A per-recipient secret (``{{ secret }}``, e.g. a verification
code) is the one value stored per row: vault-encrypted, until the row's delivery is settled.
Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.comms import preferences, rules, sealing, suppression, templating
from safehold.comms.errors import (
    MessageNotFound,
    PurposeNotDeclared,
    TemplateCategoryRefused,
    UnknownKind,
    UnknownRecipients,
)
from safehold.comms.mail import MailConfig
from safehold.comms.models import MarketingChoice, Message, OutboxItem
from safehold.comms.sealing import (  # re-exported: callers open a row's sealed values here
    open_recipient as open_recipient,
)
from safehold.comms.sealing import open_secret as open_secret
from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.policy.rules import Decision, content_hash, decide, purpose_rule
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.subjects.models import Subject
from safehold.subjects.rules import EMAIL
from safehold.subjects.service import state_of
from safehold.vault.service import EMAIL_INDEX, Vault

CHUNK = 500  # ids per IN (…) list and rows per INSERT


@dataclass(frozen=True)
class Context:
    """The collaborators communication needs."""

    vault: Vault
    policy: Policy
    clock: Clock
    mail: MailConfig
    book: PolicyBook | None = None

    def policy_label(self) -> str:
        """The policy version in force, as choices record it (``v3``, or the file's hash)."""
        current = self.book.in_force(self.clock.now()) if self.book is not None else None
        return f"v{current.facts.seq}" if current else content_hash(self.policy)[:12]

    def template_context(self) -> dict[str, str]:
        """The values every template may use besides the recipient's own."""
        return {
            "operator": self.policy.policy.operator,
            "policy_url": self.mail.link(str(self.policy.changes.posted_at)),
            "privacy_center_url": self.mail.link(str(self.policy.requests.privacy_center)),
        }


def context(runtime: Runtime) -> Context:
    policy = runtime.policy
    return Context(
        vault=runtime.vault,
        policy=policy,
        clock=runtime.clock,
        mail=MailConfig.from_settings(runtime.settings, policy.policy.operator),
        book=runtime.book,
    )


def purpose_of(kind: str, policy: Policy, *, internal: bool = False) -> str:
    """The purpose ``kind`` is sent under; ``internal`` also allows Safehold's own kinds
    (:data:`rules.INTERNAL_KINDS`), which API clients never may use."""
    purpose = rules.KINDS.get(kind) or (rules.INTERNAL_KINDS.get(kind) if internal else None)
    if purpose is None:
        raise UnknownKind("unknown message kind", details={"kinds": sorted(rules.KINDS)})
    if purpose not in policy.purpose_ids:
        raise PurposeNotDeclared(
            "the policy in force does not declare the purpose this kind of message needs",
            details={"kind": kind, "purpose": purpose},
        )
    return purpose


def compile_for(
    policy: Policy, purpose: str, message: Message, *, secret: bool = False
) -> templating.CompiledMessage:
    compiled = templating.compile_message(
        purpose,
        subject=message.subject_template,
        text=message.text_template,
        html_source=message.html_template,
        secret=secret,
    )
    allowed = set(policy.purpose(purpose).categories)
    for category in compiled.personal_fields:
        if category not in allowed:
            raise TemplateCategoryRefused(
                f"the templates use {category}, which '{purpose}' may not use",
                details={
                    "category": category,
                    "purpose": purpose,
                    "rule": purpose_rule(purpose, "categories"),
                },
            )
    return compiled


def verdict(decision: Decision, suppressed: str | None) -> tuple[rules.Status, str | None]:
    """Queue the recipient, or skip (the policy refused) or suppress (the address) them."""
    if decision.refused:
        return rules.Status.SKIPPED, decision.refused_rule
    if decision.withheld:  # a category the templates need is withheld for this person
        return rules.Status.SKIPPED, decision.withheld[0].rule
    if suppressed is not None:
        return rules.Status.SUPPRESSED, suppressed
    return rules.Status.QUEUED, None


def _audience(session: Session, subject_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    if subject_ids is None:  # everyone with an active account
        return list(
            session.scalars(
                select(Subject.id).where(Subject.status == "active").order_by(Subject.id)
            )
        )
    wanted = list(dict.fromkeys(subject_ids))
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), CHUNK):
        found.update(
            session.scalars(select(Subject.id).where(Subject.id.in_(wanted[start : start + CHUNK])))
        )
    if len(found) != len(wanted):
        raise UnknownRecipients(
            "some recipients are not people Safehold knows",
            details={"unknown": len(wanted) - len(found)},
        )
    return wanted


def _seal(
    session: Session, ctx: Context, person: uuid.UUID, item_id: uuid.UUID,
    values: Mapping[uuid.UUID, str] | None, queued: bool, own_key: bool, *,
    recipient: bool = False,
) -> bytes | None:  # fmt: skip
    """A queued row's sealed secret (or address), if the message gives it one."""
    if values is None or person not in values or not queued:
        return None
    field = sealing.recipient_field(item_id) if recipient else sealing.secret_field(item_id)
    return sealing.seal(session, ctx, person, item_id, field, values[person], own_key=own_key)


def enqueue(
    session: Session, ctx: Context, *, actor: Actor, kind: str,
    subject_ids: Sequence[uuid.UUID] | None, subject: str, text: str, html: str | None,
    secrets: Mapping[uuid.UUID, str] | None = None, internal: bool = False,
    addresses: Mapping[uuid.UUID, str] | None = None,
) -> Message:  # fmt: skip
    """Submit a message: to ``subject_ids``, or (None) to every active account.

    Each recipient is decided at once — account status, marketing choice, suppression list,
    in bulk — and decided again, completely (``state_of``), by the worker before it reads
    anything. Refuses an unknown kind, templates that do not compile (with part and line)
    or that use data the purpose may not, and unknown recipients. People the policy does not
    let the purpose reach, or whose address is suppressed, get a row with their reason, not
    an error.

    With ``secrets`` (recipient -> value, one for every recipient) the templates may use
    ``{{ secret }}``: each queued row keeps its recipient's value vault-encrypted, and the
    worker drops it once the row is sent, failed for good, skipped or suppressed. The value
    is never written to the message.

    With ``addresses`` (recipient -> address) those recipients' e-mails go to that address
    instead of the account's: sealed on the row like a secret (dropped once the delivery is
    settled), with its blind index, which the suppression list is checked against.

    A kind of :data:`rules.OWN_KEY_KINDS` (internal only) needs an address for every
    recipient and templates without personal variables; its secrets and addresses are
    sealed under each row's own data key, and its rows are *held* (queued with reason
    :data:`rules.HELD`) until :func:`release` — or, never released, skipped when claimed
    :data:`rules.OWN_KEY_TTL` later.
    """
    purpose = purpose_of(kind, ctx.policy, internal=internal)
    own_key = kind in rules.OWN_KEY_KINDS
    now = ctx.clock.now()
    message = Message(
        id=uuid.uuid4(),
        kind=kind,
        purpose=purpose,
        audience="all" if subject_ids is None else "ids",
        subject_template=subject,
        text_template=text,
        html_template=html,
        created_at=now,
        created_by=str(actor),
        policy_version=ctx.policy_label(),
    )
    compiled = compile_for(ctx.policy, purpose, message, secret=secrets is not None)
    categories = list(compiled.personal_fields)
    people = _audience(session, subject_ids)
    if secrets is not None and set(secrets) != set(people):
        raise ValueError("secrets must name exactly the message's recipients")
    addresses = addresses or {}
    if not set(addresses) <= set(people):
        raise ValueError("addresses must name recipients of the message")
    if own_key and (set(addresses) != set(people) or compiled.variables & {"name", "email"}):
        raise ValueError("a message with its own keys needs every address, and no personal data")
    own_index = {p: ctx.vault.index(EMAIL_INDEX, a) for p, a in addresses.items()}
    standings = preferences.standings(session, people)
    suppressed = suppression.kinds_by_index(
        session,
        [*(s.email_index for s in standings.values() if s.email_index), *own_index.values()],
    )
    session.add(message)
    session.flush()
    rows = []
    for person in people:
        standing = standings[person]
        decision = (
            sealing.decide_own_address(ctx.policy, purpose, standing.state())
            if own_key
            else decide(ctx.policy, purpose, categories, standing.state())
        )
        kinds = suppressed.get(own_index.get(person) or standing.email_index or "", set())
        status, reason = verdict(decision, rules.suppression_reason(kinds, purpose))
        item_id = uuid.uuid4()
        queued = status is rules.Status.QUEUED
        if own_key and queued:
            reason = rules.HELD
        rows.append(
            {
                "id": item_id,
                "message_id": message.id,
                "subject_id": person,
                "purpose": purpose,
                "status": str(status),
                "reason": reason,
                "attempts": 0,
                "next_attempt_at": now + rules.OWN_KEY_TTL if own_key else now,
                "claim_token": None,
                "claimed_by": None,
                "mail_message_id": rules.message_id(item_id.hex, ctx.mail.mail_from),
                "sent_at": None,
                "created_at": now,
                "updated_at": now,
                "sealed_secret": _seal(session, ctx, person, item_id, secrets, queued, own_key),
                "sealed_recipient": _seal(
                    session, ctx, person, item_id, addresses, queued, own_key, recipient=True
                ),
                "recipient_index": own_index.get(person) if queued or not own_key else None,
            }
        )
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(OutboxItem), rows[start : start + CHUNK])
    audit.record(
        session,
        actor=actor,
        action=f"message.enqueue.{kind}",
        subject_id=None,
        categories=[],
        purpose=purpose,
        outcome="ok",
        clock=ctx.clock,
    )
    session.flush()
    return message


def release(session: Session, message_id: uuid.UUID, *, clock: Clock) -> int:
    """Make a held message's rows due now (its sender finished what the e-mail reports).
    Rows no longer held — expired, or already released — are left as they are."""
    now = clock.now()
    result = session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.message_id == message_id,
            OutboxItem.status == rules.Status.QUEUED,
            OutboxItem.reason == rules.HELD,
        )
        .values(reason=None, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class MessageView:
    message: Message
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def get(session: Session, message_id: uuid.UUID) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise MessageNotFound("no message with that id", details={"message_id": str(message_id)})
    return message


def view(session: Session, message_id: uuid.UUID) -> MessageView:
    """Delivery counts per status, and how many rows carry each reason."""
    message = get(session, message_id)
    out = MessageView(message, {str(s): 0 for s in rules.Status})
    rows = session.execute(
        select(OutboxItem.status, OutboxItem.reason, func.count())
        .where(OutboxItem.message_id == message_id)
        .group_by(OutboxItem.status, OutboxItem.reason)
    )
    reasons: Counter[str] = Counter()
    for status, reason, count in rows:
        out.counts[status] += count
        if reason is not None:
            reasons[reason] += count
    out.reasons = dict(sorted(reasons.items()))
    return out


def recipients(
    session: Session, message_id: uuid.UUID, *, status: str | None = None,
    after: uuid.UUID | None = None, limit: int = 100,
) -> list[OutboxItem]:  # fmt: skip
    """The message's rows in id order, ``limit`` at a time after ``after``."""
    get(session, message_id)
    query = select(OutboxItem).where(OutboxItem.message_id == message_id)
    if status is not None:
        query = query.where(OutboxItem.status == status)
    if after is not None:
        query = query.where(OutboxItem.id > after)
    return list(session.scalars(query.order_by(OutboxItem.id).limit(limit)))


def requeue_failed(session: Session, message_id: uuid.UUID, *, clock: Clock) -> int:
    """Queue the message's failed deliveries again, with a fresh set of attempts."""
    get(session, message_id)
    now = clock.now()
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.message_id == message_id, OutboxItem.status == rules.Status.FAILED)
        .values(
            status=rules.Status.QUEUED, reason=None, attempts=0, next_attempt_at=now, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Preference:
    """A person's marketing choice in force, whether marketing may reach them, and why not."""

    subject_id: uuid.UUID
    choice: str | None
    rule: str | None  # what stops marketing now, if anything
    history: list[MarketingChoice]


def preference(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, actor: Actor
) -> Preference:
    """The person's marketing preference and its history (audited as a read)."""
    person = subjects.get(session, subject_id)
    decision = decide(
        ctx.policy, rules.MARKETING, [EMAIL], state_of(session, person, ctx.book, ctx.clock.now())
    )
    history = preferences.history(session, person.id)
    audit.record(
        session, actor=actor, action="marketing.read", subject_id=person.id, categories=[],
        purpose=subjects.WRITE_PURPOSE, outcome="ok", clock=ctx.clock,
    )  # fmt: skip
    return Preference(
        person.id,
        history[-1].choice if history else None,
        decision.refused_rule or (decision.withheld[0].rule if decision.withheld else None),
        history,
    )


def set_preference(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, choice: str, channel: str,
    actor: Actor,
) -> Preference:  # fmt: skip
    """Record a choice made through the API (or relayed from the privacy center or a reply).
    Repeating the choice in force changes nothing."""
    person = subjects.get(session, subject_id)
    preferences.record_choice(
        session, subject=person, choice=choice, channel=channel, actor=actor,
        policy_version=ctx.policy_label(), clock=ctx.clock,
    )  # fmt: skip
    return preference(session, ctx, subject_id, actor=actor)
