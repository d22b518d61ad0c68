"""The outbox rows' state changes during delivery: claiming due rows under a lease, and
recording what happened to each. Every change here starts from ``sending`` under the
worker's claim token, and follows :data:`rules.TRANSITIONS`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safehold.comms import rules, sealing
from safehold.comms.mail import MailError
from safehold.comms.models import OutboxItem

IN_CHUNK = 500  # ids per IN (...) list


@dataclass
class Report:
    """What one delivery round did (counts only, fit for a log line)."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    suppressed: int = 0
    cancelled: int = 0  # stopped by an opt-out or a suppression while claimed
    keys_destroyed: int = 0  # rows' own data keys destroyed with their settlement
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, status: rules.Status, reason: str | None = None) -> None:
        attribute = {
            rules.Status.SENT: "sent",
            rules.Status.QUEUED: "retrying",
            rules.Status.FAILED: "failed",
            rules.Status.SKIPPED: "skipped",
            rules.Status.SUPPRESSED: "suppressed",
        }[status]
        setattr(self, attribute, getattr(self, attribute) + 1)
        if reason is not None and status in (rules.Status.QUEUED, rules.Status.FAILED):
            self.errors[reason] = self.errors.get(reason, 0) + 1

    def add(self, other: Report) -> None:
        for name in ("claimed", "sent", "retrying", "failed", "skipped", "suppressed", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.keys_destroyed += other.keys_destroyed
        for reason, count in other.errors.items():
            self.errors[reason] = self.errors.get(reason, 0) + count


def claim(
    session: Session, *, now: datetime, worker: str, batch_size: int
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Take up to ``batch_size`` due rows — queued ones whose time has come, and ``sending``
    ones whose lease ran out — in one statement (a write first: SQLite's lock up front;
    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent workers never take the same row)."""
    token = uuid.uuid4()
    due = (
        select(OutboxItem.id)
        .where(OutboxItem.status.in_(rules.PENDING), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    ids = session.scalars(
        update(OutboxItem)
        .where(OutboxItem.id.in_(due.scalar_subquery()))
        .values(
            status=rules.Status.SENDING,
            claim_token=token,
            claimed_by=worker[:120],
            next_attempt_at=now + rules.LEASE,
            updated_at=now,
        )
        .returning(OutboxItem.id)
        .execution_options(synchronize_session=False)
    ).all()
    return token, list(ids)


def lock(
    session: Session, ids: Iterable[uuid.UUID], token: uuid.UUID, now: datetime, *,
    attempt: bool,
) -> dict[uuid.UUID, int]:  # fmt: skip
    """Lock the rows still ours (not cancelled meanwhile); with ``attempt``, count a try.
    Returns their attempt counts. The first statement of its transaction, and a write."""
    values: dict[str, Any] = {"updated_at": now}
    if attempt:
        values["attempts"] = OutboxItem.attempts + 1
    rows = session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.id.in_(list(ids)),
            OutboxItem.status == rules.Status.SENDING,
            OutboxItem.claim_token == token,
        )
        .values(**values)
        .returning(OutboxItem.id, OutboxItem.attempts)
        .execution_options(synchronize_session=False)
    )
    return {row.id: row.attempts for row in rows}


@dataclass(frozen=True)
class Outcome:
    item_id: uuid.UUID
    status: rules.Status
    reason: str | None
    retry_at: datetime | None = None


def failure(item_id: uuid.UUID, attempts: int, error: MailError, now: datetime) -> Outcome:
    """A try that did not deliver: queued again after its backoff, or failed for good."""
    retry_at = None if error.permanent else rules.next_attempt_at(max(attempts, 1), now)
    if retry_at is None:
        return Outcome(item_id, rules.Status.FAILED, error.code)
    return Outcome(item_id, rules.Status.QUEUED, error.code, retry_at)


def record(session: Session, outcomes: Sequence[Outcome], now: datetime, report: Report) -> None:
    """Write the outcomes of rows this transaction holds: one ``UPDATE … WHERE id IN (…)``
    per distinct outcome (usually a single one: every e-mail of the group sent), not one
    statement per row. A row whose delivery is settled (anything but queued again) loses its
    sealed secret, its sealed recipient address and that address's blind index in the same
    statement, and its own data key, if it has one (:func:`sealing.destroy_row_keys`), in
    the same transaction."""
    if not outcomes:
        return
    groups: dict[tuple[rules.Status, str | None, datetime | None], list[uuid.UUID]] = {}
    for outcome in outcomes:
        if not rules.can_move(rules.Status.SENDING, outcome.status):
            raise ValueError(f"an outbox row cannot move from sending to {outcome.status}")
        groups.setdefault((outcome.status, outcome.reason, outcome.retry_at), []).append(
            outcome.item_id
        )
        report.count(outcome.status, outcome.reason)
    for (status, reason, retry_at), ids in groups.items():
        values: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "next_attempt_at": retry_at or now,
            "sent_at": now if status is rules.Status.SENT else None,
            "claim_token": None,
            "updated_at": now,
        }
        settled = status is not rules.Status.QUEUED
        if settled:
            values["sealed_secret"] = None
            values["sealed_recipient"] = None
            values["recipient_index"] = None
        for start in range(0, len(ids), IN_CHUNK):
            if settled:  # a row with its own data key loses it with its sealed values
                report.keys_destroyed += sealing.destroy_row_keys(
                    session, ids[start : start + IN_CHUNK]
                )
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(ids[start : start + IN_CHUNK]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def defer(
    session: Session, ids: Sequence[uuid.UUID], token: uuid.UUID, error: MailError, now: datetime,
    report: Report,
) -> None:  # fmt: skip
    """No connection to the SMTP server: every row still claimed counts a failed try."""
    attempts = lock(session, ids, token, now, attempt=True)
    record(session, [failure(i, n, error, now) for i, n in attempts.items()], now, report)
