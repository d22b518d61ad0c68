"""Turning claimed outbox rows into e-mails handed to the SMTP server.

**prepare** (one transaction for a claimed batch): for each row the policy decides again
(``states_of`` — status, marketing choice, pending policy acceptance); allowed recipients are
read and decrypted under the message's purpose, audited, and rendered *in memory*; refused
ones are skipped, suppressed addresses suppressed. A row's sealed secret is decrypted with
the rest and rendered as ``{{ secret }}``. It commits before anything is sent, so no
personal data leaves without its audit entry — and no rendered e-mail is ever stored.

**send** (one transaction per group of up to ``group`` e-mails): lock the rows, look once
more at what can stop an e-mail at the last moment (the account's status, the marketing
choice, the suppression list), hand each over, record the outcomes and what the e-mail
provider received (``sharing.deliveries``: one aggregated row per person), commit. The rows stay
locked during the SMTP exchange, and an opt-out waits for that lock
(:func:`preferences.cancel_pending_marketing`): a withdrawal stops everything not yet handed
over, and nothing already handed over is reported as stopped.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.comms import (
    mail,
    mailers,
    outbox,
    preferences,
    rules,
    sealing,
    service,
    suppression,
    templating,
    tokens,
)
from safehold.comms.mail import Mailer, MailError
from safehold.comms.models import Message, OutboxItem
from safehold.comms.outbox import Outcome, Report
from safehold.logs import get_logger
from safehold.policy.rules import decide
from safehold.sharing import deliveries
from safehold.subjects.models import PersonalValue, Subject
from safehold.subjects.rules import EMAIL
from safehold.subjects.state import states_of
from safehold.vault.errors import DataKeyDestroyed
from safehold.vault.models import DataKey

log = get_logger(__name__)
Read = tuple[Actor, uuid.UUID, tuple[str, ...], str, str]  # who, whose, what, why, outcome


@dataclass(frozen=True)
class Prepared:
    """One rendered e-mail, held in memory between prepare and send."""

    item_id: uuid.UUID
    subject_id: uuid.UUID
    purpose: str
    categories: tuple[str, ...]
    recipient: str
    email: bytes  # the composed message
    recipient_index: str | None = None  # the row's own address's blind index, if it has one
    own_key: bool = False  # sealed under the row's own key: an erased person's last e-mail


@functools.lru_cache(maxsize=32)  # compiled templates of the campaigns in flight
def _compiled(
    purpose: str, subject: str, text: str, html: str | None
) -> templating.CompiledMessage:
    # ``secret`` allowed: the templates were checked at submission, against what it gave.
    return templating.compile_message(
        purpose, subject=subject, text=text, html_source=html, secret=True
    )


def _values(
    session: Session, ctx: service.Context, subject_id: uuid.UUID, wanted: dict[str, str],
    rows: Sequence[PersonalValue],
) -> dict[tuple[str, str], str]:  # fmt: skip
    """Decrypt the fields the templates need (the caller decided, and audits the read; it
    has loaded the people's data keys, so the vault finds them without a query each)."""
    values: dict[tuple[str, str], str] = {}
    for row in rows:
        if wanted.get(row.category) == row.field:
            values[(row.category, row.field)] = ctx.vault.decrypt(
                session, subject_id, row.retention_class, row.category, row.field, row.ciphertext
            )
    if (EMAIL, "email") not in values:
        raise DataKeyDestroyed("the address is gone", details={})
    return values


def prepare(
    session: Session, ctx: service.Context, ids: list[uuid.UUID], token: uuid.UUID, *,
    worker: str, report: Report,
) -> list[Prepared]:  # fmt: skip
    """Decide, read, audit and render the claimed rows; record the ones that stop here."""
    now = ctx.clock.now()
    held = outbox.lock(session, ids, token, now, attempt=False)
    report.cancelled += len(ids) - len(held)
    items = list(session.scalars(select(OutboxItem).where(OutboxItem.id.in_(held))))
    messages = {
        m.id: m
        for m in session.scalars(
            select(Message).where(Message.id.in_({i.message_id for i in items}))
        )
    }
    subject_ids = {i.subject_id for i in items}
    people = {p.id: p for p in session.scalars(select(Subject).where(Subject.id.in_(subject_ids)))}
    kinds = suppression.kinds_by_index(
        session,
        [
            *(p.email_index for p in people.values() if p.email_index),
            *(i.recipient_index for i in items if i.recipient_index),
        ],
    )
    stored: dict[uuid.UUID, list[PersonalValue]] = {}
    for row in session.scalars(
        select(PersonalValue).where(
            PersonalValue.subject_id.in_(subject_ids),
            PersonalValue.category.in_(list(templating.CATEGORIES)),
        )
    ):
        stored.setdefault(row.subject_id, []).append(row)
    states = states_of(session, people.values(), ctx.book, now)  # two queries for the round
    # Every recipient's data keys in one query, held until the loop is done: the vault then
    # finds each in the session's identity map instead of querying once per person.
    held_keys = list(session.scalars(select(DataKey).where(DataKey.subject_id.in_(subject_ids))))
    key = tokens.derive_key(ctx.vault.provider.index_key())
    general = ctx.template_context()
    reads: list[Read] = []
    outcomes: list[Outcome] = []
    out: list[Prepared] = []
    for item in sorted(items, key=lambda i: i.id):
        message, person = messages[item.message_id], people[item.subject_id]
        compiled = _compiled(
            item.purpose, message.subject_template, message.text_template, message.html_template
        )
        wanted = compiled.personal_fields
        categories = tuple(wanted)
        actor = Actor("system", f"outbox@{worker}"[:120], request_id=str(message.id))
        own_key = message.kind in rules.OWN_KEY_KINDS
        if own_key and (stop := _own_key_stop(item, now)) is not None:
            outcomes.append(Outcome(item.id, rules.Status.SKIPPED, stop))
            continue
        decision = (
            sealing.decide_own_address(ctx.policy, item.purpose, states[person.id])
            if own_key
            else decide(ctx.policy, item.purpose, categories, states[person.id])
        )
        index = item.recipient_index or person.email_index or ""
        blocked = rules.suppression_reason(kinds.get(index, ()), item.purpose)
        status, reason = service.verdict(decision, blocked)
        if status is not rules.Status.QUEUED:
            if decision.refused or decision.withheld:
                reads.append((actor, person.id, categories, item.purpose, "refused"))
            outcomes.append(Outcome(item.id, status, reason))
            continue
        try:
            # A row with its own key uses nothing of the account: only its own address.
            values = (
                {}
                if own_key
                else _values(session, ctx, person.id, wanted, stored.get(person.id, []))
            )
            secret = service.open_secret(session, ctx, item, own_key=own_key)
            own_address = service.open_recipient(session, ctx, item, own_key=own_key)
            if own_address is None and own_key:
                raise DataKeyDestroyed("the row's own address is gone", details={})
        except DataKeyDestroyed:
            reads.append((actor, person.id, categories, item.purpose, "erased"))
            outcomes.append(Outcome(item.id, rules.Status.SKIPPED, "vault.erased"))
            continue
        reads.append((actor, person.id, categories, item.purpose, "allowed"))
        if secret is None and templating.SECRET in compiled.variables:
            # dropped when the row was settled (failed, then queued again by hand)
            outcomes.append(Outcome(item.id, rules.Status.FAILED, "outbox.secret_gone"))
            continue
        variables = general | {
            var: values[field]
            for var, field in templating.PERSONAL_VARIABLES.items()
            if field in values
        }
        unsubscribe = tokens.make_token(key, item.id) if item.purpose == rules.MARKETING else None
        if unsubscribe is not None:
            variables["unsubscribe_url"] = ctx.mail.unsubscribe_url(unsubscribe)
        if secret is not None:
            variables[templating.SECRET] = secret
        try:
            rendered = compiled.render(variables)
        except templating.RenderFailed:
            outcomes.append(Outcome(item.id, rules.Status.FAILED, "template.render_failed"))
            continue
        recipient = own_address if own_address is not None else values[(EMAIL, "email")]
        email = mail.compose(
            ctx.mail, rendered, to=recipient, message_id=item.mail_message_id, date=now,
            unsubscribe_token=unsubscribe,
        )  # fmt: skip
        out.append(
            Prepared(
                item.id, person.id, item.purpose, categories, recipient, email,
                item.recipient_index, own_key,
            )
        )  # fmt: skip
    del held_keys
    outbox.record(session, outcomes, now, report)
    accesses = [
        audit.Access(actor, "message.render", subject_id, categories, purpose, outcome)
        for actor, subject_id, categories, purpose, outcome in reads
    ]
    audit.record_many(session, accesses, clock=ctx.clock)  # one statement, this connection's chain
    return out


def _own_key_stop(item: OutboxItem, now: datetime) -> str | None:
    """Why a row with its own key stops before anything is read: still held (its sender —
    the erasure — never released it), or older than the bound on keeping its address."""
    if item.reason == rules.HELD:
        return rules.HELD_EXPIRED
    if now >= item.created_at + rules.OWN_KEY_TTL:
        return rules.OWN_KEY_EXPIRED
    return None


def _last_look(
    item: Prepared, standing: preferences.Standing | None, kinds: set[str], ctx: service.Context
) -> tuple[rules.Status, str | None]:
    """What the status, the choice and the suppression list say just before hand-over.
    (Pending policy acceptance was decided in prepare, moments earlier.)"""
    if standing is None:
        return rules.Status.SKIPPED, "subject.erased"
    decision = (
        sealing.decide_own_address(ctx.policy, item.purpose, standing.state())
        if item.own_key
        else decide(ctx.policy, item.purpose, item.categories, standing.state())
    )
    return service.verdict(decision, rules.suppression_reason(kinds, item.purpose))


def send_group(
    session: Session, ctx: service.Context, mailer: Mailer, group: Sequence[Prepared],
    token: uuid.UUID, report: Report,
) -> MailError | None:  # fmt: skip
    """Hand a group of e-mails over in one transaction. Returns the error that broke the
    connection (the rest of the group then counts a failed try), else None."""
    now = ctx.clock.now()
    attempts = outbox.lock(session, [p.item_id for p in group], token, now, attempt=True)
    report.cancelled += len(group) - len(attempts)
    live = [p for p in group if p.item_id in attempts]
    standings = preferences.standings(session, {p.subject_id for p in live})
    kinds = suppression.kinds_by_index(
        session,
        [
            *(s.email_index for s in standings.values() if s.email_index),
            *(p.recipient_index for p in live if p.recipient_index),
        ],
    )
    outcomes: list[Outcome] = []
    handed: list[tuple[uuid.UUID, tuple[str, ...]]] = []
    broken: MailError | None = None
    for item in live:
        if broken is not None:
            outcomes.append(outbox.failure(item.item_id, attempts[item.item_id], broken, now))
            continue
        standing = standings.get(item.subject_id)
        index = item.recipient_index or (standing.email_index if standing else None)
        status, reason = _last_look(item, standing, kinds.get(index or "", set()), ctx)
        if status is not rules.Status.QUEUED:
            outcomes.append(Outcome(item.item_id, status, reason))
            continue
        try:
            mailer.send(item.email, sender=ctx.mail.mail_from, recipient=item.recipient)
        except MailError as error:
            log.warning("mail_not_delivered", item_id=str(item.item_id), reason=error.code)
            outcomes.append(outbox.failure(item.item_id, attempts[item.item_id], error, now))
            broken = error if error.connection else None
            continue
        outcomes.append(Outcome(item.item_id, rules.Status.SENT, None))
        handed.append((item.subject_id, item.categories))
    outbox.record(session, outcomes, now, report)
    # The provider now holds what it was handed: recorded with the sends, in their commit.
    deliveries.record_mail(session, ctx.policy, handed, now)
    if ctx.mail.copies is not None:  # the console backend: no copy outlives an erased person
        sent = {o.item_id for o in outcomes if o.status is rules.Status.SENT}
        mailers.erase_copies(
            ctx.mail.copies, [p.item_id for p in live if p.own_key and p.item_id in sent]
        )
    return broken
