"""Marketing preferences: a history of choices per person, and the one-click unsubscribe
link. Services flush, never commit.

The choice in force (:func:`current_choice`, read through :func:`rules.marketing_sets`) is
what ``safehold.subjects.service.state_of`` puts into the state the policy decision sees;
everything that asks "may this person get marketing?" goes through ``state_of``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, select, update
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.comms import rules, tokens
from safehold.comms.errors import UnsubscribeLinkInvalid, UnsubscribeLinkOutdated
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.policy.rules import SubjectState
from safehold.subjects.models import Subject
from safehold.vault.service import Vault

TICK = timedelta(microseconds=1)
CHUNK = 500  # ids per IN (…) list


def latest(session: Session, subject_id: uuid.UUID) -> MarketingChoice | None:
    return session.scalars(
        select(MarketingChoice)
        .where(MarketingChoice.subject_id == subject_id)
        .order_by(MarketingChoice.at.desc(), MarketingChoice.id.desc())
        .limit(1)
    ).first()


def current_choice(session: Session, subject_id: uuid.UUID) -> str | None:
    """The marketing choice in force (``opted_in``/``opted_out``), None if none recorded."""
    return session.scalar(
        select(MarketingChoice.choice)
        .where(MarketingChoice.subject_id == subject_id)
        .order_by(MarketingChoice.at.desc(), MarketingChoice.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Standing:
    """What can stop an e-mail at the last moment: the account's status, the marketing
    choice in force, and the address's blind index (for the suppression list)."""

    status: str
    choice: str | None
    email_index: str | None

    def state(self) -> SubjectState:
        """The decision's view of this: ``state_of`` without pending policy acceptance (for
        the quick checks at submission and just before hand-over; the worker decides with
        the whole ``state_of`` before it reads anything)."""
        opted_out, consented = rules.marketing_sets(self.choice)
        return SubjectState(
            account_status=self.status,  # type: ignore[arg-type]
            opted_out=opted_out,
            consented=consented,
        )


def latest_choice_column() -> ScalarSelect[Any]:
    """A person's newest marketing choice as a column of a query over ``subjects`` (the same
    ordering as :func:`latest`), so many people's choices are read in one statement."""
    return (
        select(MarketingChoice.choice)
        .where(MarketingChoice.subject_id == Subject.id)
        .order_by(MarketingChoice.at.desc(), MarketingChoice.id.desc())
        .limit(1)
        .correlate(Subject)
        .scalar_subquery()
    )


def standings(session: Session, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Standing]:
    """:class:`Standing` for many people in one query (the same latest-choice ordering)."""
    latest = latest_choice_column()
    ids = list(subject_ids)
    out: dict[uuid.UUID, Standing] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Subject.id, Subject.status, latest, Subject.email_index).where(
                Subject.id.in_(ids[start : start + CHUNK])
            )
        )
        out.update({sid: Standing(status, choice, index) for sid, status, choice, index in rows})
    return out


def history(session: Session, subject_id: uuid.UUID) -> list[MarketingChoice]:
    """Every choice, oldest first."""
    return list(
        session.scalars(
            select(MarketingChoice)
            .where(MarketingChoice.subject_id == subject_id)
            .order_by(MarketingChoice.at, MarketingChoice.id)
        )
    )


def cancel_pending_marketing(
    session: Session, subject_id: uuid.UUID, *, reason: str, status: rules.Status, now: datetime
) -> int:
    """Stop every marketing e-mail to the person not yet handed to the SMTP server.

    A worker sending to this person right now holds the row's lock (PostgreSQL) or the
    database's write lock (SQLite) until the SMTP server has answered, so this waits for it:
    what was handed over before the withdrawal was recorded stays sent, nothing after."""
    result = session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.subject_id == subject_id,
            OutboxItem.purpose == rules.MARKETING,
            OutboxItem.status.in_(rules.PENDING),
        )
        .values(status=status, reason=reason, claim_token=None, updated_at=now, sealed_secret=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record_choice(
    session: Session, *, subject: Subject, choice: str, channel: str, actor: Actor,
    policy_version: str | None, clock: Clock, reference: str | None = None,
) -> MarketingChoice | None:  # fmt: skip
    """Append a choice, unless it is already the one in force (then None: nothing changes).

    An opt-out takes effect at once: pending marketing mail to the person is skipped in the
    same transaction. Every change is audited."""
    if choice not in rules.CHOICES or channel not in rules.CHANNELS:
        raise ValueError("unknown marketing choice or channel")
    current = latest(session, subject.id)
    if current is not None and current.choice == choice:
        return None
    now = clock.now()
    if current is not None and current.at >= now:
        now = current.at + TICK  # the new choice must sort last, even at the same instant
    row = MarketingChoice(
        id=uuid.uuid4(),
        subject_id=subject.id,
        choice=choice,
        at=now,
        channel=channel,
        actor=str(actor),
        policy_version=policy_version,
        reference=reference,
    )
    session.add(row)
    if choice == rules.OPTED_OUT:
        cancel_pending_marketing(
            session, subject.id, reason=rules.opt_out_reason(), status=rules.Status.SKIPPED, now=now
        )
    audit.record(
        session,
        actor=actor,
        action=f"marketing.{choice}.{channel}",
        subject_id=subject.id,
        categories=[],
        purpose=rules.MARKETING,
        outcome="ok",
        clock=clock,
    )
    session.flush()
    return row


@dataclass(frozen=True)
class LinkTarget:
    """What an unsubscribe link points at."""

    item: OutboxItem
    subject: Subject | None  # None once the person's record is gone
    opted_out: bool  # already opted out: the link has nothing left to do


def resolve_link(session: Session, vault: Vault, token: str) -> LinkTarget:
    """The marketing e-mail a genuine token names, or :class:`UnsubscribeLinkInvalid`."""
    item_id = tokens.read_token(tokens.derive_key(vault.provider.index_key()), token)
    found = select(OutboxItem).where(OutboxItem.id == item_id)  # the link has the id alone
    item = session.scalars(found).first() if item_id is not None else None
    if item is None or item.purpose != rules.MARKETING:
        raise UnsubscribeLinkInvalid("this unsubscribe link is not valid")
    subject = session.get(Subject, item.subject_id)
    if subject is None:
        return LinkTarget(item, None, True)
    current = latest(session, subject.id)
    return LinkTarget(item, subject, current is not None and current.choice == rules.OPTED_OUT)


def unsubscribe(
    session: Session, vault: Vault, token: str, *, channel: str, clock: Clock,
    policy_version: str | None, request_id: str | None = None,
) -> bool:  # fmt: skip
    """Opt out the recipient of the e-mail a token names. True when this changed anything.

    Idempotent: an opted-out person stays opted out and nothing is written. A link from an
    e-mail sent *before* the person chose marketing again is outdated and changes nothing
    (:class:`UnsubscribeLinkOutdated`), so an old link cannot undo a newer choice."""
    target = resolve_link(session, vault, token)
    if target.subject is None or target.opted_out or target.subject.status == "erased":
        return False
    current = latest(session, target.subject.id)
    issued = target.item.sent_at or target.item.created_at
    if current is not None and current.at > issued:
        raise UnsubscribeLinkOutdated(
            "this link is from an e-mail sent before your latest choice; "
            "use the link in a newer e-mail or the privacy center"
        )
    actor = Actor("subject", str(target.subject.id), request_id=request_id)
    recorded = record_choice(
        session,
        subject=target.subject,
        choice=rules.OPTED_OUT,
        channel=channel,
        actor=actor,
        policy_version=policy_version,
        clock=clock,
        reference=str(target.item.id),
    )
    return recorded is not None
