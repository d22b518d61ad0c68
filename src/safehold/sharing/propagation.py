"""Propagation (GDPR Art. 19): when a person is erased, restricted or corrects their data,
every recipient that received their data is owed a notice. Services flush, never commit.

:func:`notify_erasure`, :func:`notify_restriction` and :func:`notify_rectification` queue one
notice per recipient in the caller's transaction, so the notice exists exactly when the
erasure, restriction or correction does. Delivery is the job's (:mod:`safehold.sharing.jobs`):
recipients with a webhook get a signed request with retries; the others are "manual" and
wait for staff to pass the notice on and :func:`acknowledge` it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.policy import Policy
from safehold.sharing import deliveries, rules
from safehold.sharing.errors import PropagationNotFound, PropagationStateConflict
from safehold.sharing.models import Disclosure, DisclosureSubject, Propagation
from safehold.sharing.rules import Event, State, Step

StatusFilter = Literal["pending", "acknowledged", "all"]


def received_by(session: Session, subject_id: uuid.UUID) -> dict[str, set[str]]:
    """Which categories of the person each recipient has received, over all disclosures and
    what processors received in the course of the service (the e-mail provider)."""
    rows = session.execute(
        select(Disclosure.recipient_id, DisclosureSubject.categories)
        .join(Disclosure, Disclosure.id == DisclosureSubject.disclosure_id)
        .where(DisclosureSubject.subject_id == subject_id, DisclosureSubject.outcome == "disclosed")
    )
    received = deliveries.received_categories(session, subject_id)
    for recipient_id, categories in rows:
        received.setdefault(recipient_id, set()).update(categories)
    return received


def _queue(
    session: Session, *, policy: Policy, clock: Clock, actor: Actor, subject_id: uuid.UUID,
    event: Event, changed: Iterable[str] | None = None,
) -> list[Propagation]:  # fmt: skip
    notices = rules.notices_for(policy, received_by(session, subject_id), event, changed)
    if event in rules.RESTRICTION_EVENTS and notices:
        notices = [n for n in notices if not _last_word_is(session, subject_id, n, event)]
    elif event is Event.ERASURE and notices:
        # Idempotent: re-running an erasure (a resumed job) never notifies twice.
        states = [State.QUEUED, State.FAILED, State.ACKNOWLEDGED]
        already = set(
            session.scalars(
                select(Propagation.recipient_id).where(
                    Propagation.subject_id == subject_id,
                    Propagation.event == event.value,
                    Propagation.state.in_(states),
                )
            )
        )
        notices = [n for n in notices if n.recipient_id not in already]
    now = clock.now()
    created = [
        Propagation(
            id=uuid.uuid4(),
            subject_id=subject_id,
            recipient_id=notice.recipient_id,
            event=event.value,
            categories=list(notice.categories),
            state=State.QUEUED.value,
            created_at=now,
            created_by=str(actor),
            due_at=rules.due_at(now, policy),
            attempts=0,
            next_attempt_at=now,
            last_attempt_at=None,
            last_error=None,
            acknowledged_at=None,
            acknowledged_by=None,
        )
        for notice in notices
    ]
    session.add_all(created)
    session.flush()
    return created


def _last_word_is(
    session: Session, subject_id: uuid.UUID, notice: rules.Notice, event: Event
) -> bool:
    """The recipient was last told ``event`` about the person (restrictions and their ends
    alternate, so the more numerous one is the last) and that notice is still outstanding:
    repeating it would say nothing new (a restriction applied twice)."""
    rows = session.execute(
        select(Propagation.event, Propagation.state).where(
            Propagation.subject_id == subject_id,
            Propagation.recipient_id == notice.recipient_id,
            Propagation.event.in_([e.value for e in rules.RESTRICTION_EVENTS]),
        )
    ).all()
    told = sum(1 for e, _ in rows if e == Event.RESTRICTION) - sum(
        1 for e, _ in rows if e == Event.RESTRICTION_END
    )
    last = Event.RESTRICTION if told > 0 else Event.RESTRICTION_END if rows else None
    return last is event and any(
        e == event.value and State(state) in rules.OUTSTANDING for e, state in rows
    )


def notify_erasure(
    session: Session, subject_id: uuid.UUID, *, policy: Policy, clock: Clock, actor: Actor
) -> list[Propagation]:
    """Queue an erasure notice to every recipient that received the person's data (except
    those the policy exempts, e.g. authorities). Call it in the erasure's transaction, while
    the disclosure records still exist; safe to call again."""
    return _queue(
        session, policy=policy, clock=clock, actor=actor, subject_id=subject_id, event=Event.ERASURE
    )


def notify_restriction(
    session: Session, subject_id: uuid.UUID, *, policy: Policy, clock: Clock, actor: Actor
) -> list[Propagation]:
    """Queue a restriction notice (Art. 18) to every recipient that received the person's data."""
    return _queue(
        session,
        policy=policy,
        clock=clock,
        actor=actor,
        subject_id=subject_id,
        event=Event.RESTRICTION,
    )


def notify_restriction_end(
    session: Session, subject_id: uuid.UUID, *, policy: Policy, clock: Clock, actor: Actor
) -> list[Propagation]:
    """Queue a notice that the restriction was lifted (``subject.unrestricted``, action
    ``lift_restriction``) to every recipient that received the person's data."""
    return _queue(
        session, policy=policy, clock=clock, actor=actor, subject_id=subject_id,
        event=Event.RESTRICTION_END,
    )  # fmt: skip


def notify_rectification(
    session: Session, subject_id: uuid.UUID, *, categories: Iterable[str], policy: Policy,
    clock: Clock, actor: Actor,
) -> list[Propagation]:  # fmt: skip
    """Queue a correction notice to every recipient that received one of the changed
    ``categories``; it names the categories, never the new values (see docs/sharing.md)."""
    return _queue(
        session,
        policy=policy,
        clock=clock,
        actor=actor,
        subject_id=subject_id,
        event=Event.RECTIFICATION,
        changed=list(categories),
    )


def list_propagations(
    session: Session, *, now: datetime, status: StatusFilter = "pending",
    overdue: bool = False, subject_id: uuid.UUID | None = None, recipient: str | None = None,
    offset: int = 0, limit: int = 100,
) -> list[Propagation]:  # fmt: skip
    """Notices, oldest first. ``pending`` means not yet acknowledged: queued for delivery or
    for staff, and those whose webhook retries gave up (state ``failed``)."""
    query = select(Propagation).order_by(Propagation.created_at, Propagation.id)
    if status == "pending":
        query = query.where(Propagation.state.in_([s.value for s in rules.OUTSTANDING]))
    elif status == "acknowledged":
        query = query.where(Propagation.state == State.ACKNOWLEDGED.value)
    if overdue:
        query = query.where(Propagation.due_at < now, Propagation.state != State.ACKNOWLEDGED.value)
    if subject_id is not None:
        query = query.where(Propagation.subject_id == subject_id)
    if recipient is not None:
        query = query.where(Propagation.recipient_id == recipient)
    return list(session.scalars(query.offset(offset).limit(limit)))


def _step(session: Session, propagation_id: uuid.UUID, step: Step) -> tuple[Propagation, State]:
    found = select(Propagation).where(Propagation.id == propagation_id).with_for_update()
    row = session.scalars(found).first()  # by its id alone: the API's path names no person
    if row is None:
        raise PropagationNotFound("no notice with that id")
    try:
        return row, rules.transition(State(row.state), step)
    except rules.InvalidTransition as exc:
        raise PropagationStateConflict(
            str(exc), details={"state": row.state, "step": step.value}
        ) from None


def acknowledge(
    session: Session, propagation_id: uuid.UUID, *, actor: Actor, clock: Clock
) -> Propagation:
    """Staff record that the recipient was told and confirmed (manual recipients, or a
    webhook whose retries gave up and was handled another way)."""
    row, state = _step(session, propagation_id, Step.STAFF_ACK)
    row.state, row.next_attempt_at = state.value, None
    row.acknowledged_at, row.acknowledged_by = clock.now(), str(actor)
    session.flush()
    return row


def retry(session: Session, propagation_id: uuid.UUID, *, clock: Clock) -> Propagation:
    """Start a fresh series of webhook attempts for a notice that gave up."""
    row, state = _step(session, propagation_id, Step.RETRY)
    row.state, row.attempts, row.next_attempt_at = state.value, 0, clock.now()
    session.flush()
    return row
