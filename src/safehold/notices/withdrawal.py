"""Withdrawing a scheduled policy version before it takes effect (decision 0034).

The version stays as published — it was posted, and the record says so — but it never
applies: the policy book drops it, the next version follows the one before it, and no one
can accept it. Its change notices that were not yet handed to the mail server are stopped
(skipped, with :data:`STOPPED`); the people it already reached get one short note saying it
was withdrawn — nobody else gets anything, and nobody gets the note twice (a version is
withdrawn once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.comms.models import OutboxItem
from safehold.notices.announce import CHANGE, WITHDRAWAL
from safehold.notices.book import REFRESH_SECONDS
from safehold.notices.errors import NotWithdrawable, VersionWithdrawn
from safehold.notices.models import PolicyNotice, PolicyVersion, PolicyWithdrawal
from safehold.notices.service import get, latest

# A version can be withdrawn until this long before it takes effect, so every process has
# re-read the versions (every REFRESH_SECONDS) before the moment it would have applied.
WITHDRAW_BEFORE = timedelta(minutes=1)
assert WITHDRAW_BEFORE.total_seconds() > 2 * REFRESH_SECONDS
STOPPED = "policy.version_withdrawn"  # the reason on a change notice that was never sent
# Deliveries of a change notice that the withdrawal stops: not handed to the mail server yet,
# or failed (so no one queues them again).
STOPPABLE = (*comms_rules.PENDING, comms_rules.Status.FAILED)


@dataclass(frozen=True)
class Impact:
    """What withdrawing a version would do now: the notices it stops, whom it tells."""

    version: PolicyVersion
    pending: int  # change-notice deliveries not sent yet: stopped
    reached: list[uuid.UUID]  # people the change notice was sent to: told of the withdrawal


def _notice_ids(session: Session, seq: int) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(PolicyNotice.message_id).where(
                PolicyNotice.version_seq == seq, PolicyNotice.kind == CHANGE
            )
        )
    )


def impact(session: Session, seq: int, *, clock: Clock) -> Impact:
    """Check that ``seq`` may be withdrawn now and say what withdrawing it would do (nothing
    is changed): it must be the newest version not withdrawn, and not take effect within
    :data:`WITHDRAW_BEFORE`."""
    version = get(session, seq)
    if session.get(PolicyWithdrawal, seq) is not None:
        raise VersionWithdrawn(f"{version.label} is already withdrawn", details={"version": seq})
    newest = latest(session)
    if newest is not None and newest.seq != seq:
        raise NotWithdrawable(
            f"{newest.label} was published after {version.label} and follows it: withdraw "
            f"{newest.label} first",
            details={"version": seq, "later": newest.seq},
        )
    if version.effective_at <= clock.now() + WITHDRAW_BEFORE:
        raise NotWithdrawable(
            f"{version.label} takes effect within a minute or already has: only a version "
            "that has not taken effect can be withdrawn (publish a new version instead)",
            details={"version": seq},
        )
    ids = _notice_ids(session, seq)
    pending = 0
    if ids:
        pending = int(
            session.scalar(
                select(func.count()).where(
                    OutboxItem.message_id.in_(ids), OutboxItem.status.in_(STOPPABLE)
                )
            )
            or 0
        )
    return Impact(version, pending, _reached(session, ids) if ids else [])


def withdrawal_text(version: PolicyVersion) -> tuple[str, str]:
    """The note to the people the change notice reached."""
    when = version.effective_at.strftime("%d %B %Y")
    subject = "A privacy policy change we announced will not happen"
    body = "\n".join([
        "Hello {{ name }},",
        "",
        f"We wrote to you that version {version.label} of our privacy policy would take effect "
        f"on {when}. We have withdrawn it: it will not take effect, and nothing changes for "
        "you because of it.",
        "",
        "Our privacy policy and its history: {{ policy_url }}",
    ])  # fmt: skip
    return subject, body


def withdraw(
    session: Session, comms_ctx: comms.Context, seq: int, *, actor: Actor
) -> PolicyWithdrawal:
    """Withdraw ``seq`` (see the module): stop its unsent change notices, tell the people it
    reached once, record the withdrawal and audit it — in the caller's transaction."""
    clock = comms_ctx.clock
    found = impact(session, seq, clock=clock)
    now = clock.now()
    ids = _notice_ids(session, seq)
    stopped = 0
    if ids:
        # Waits for a worker handing one of these rows to the mail server (it holds the row's
        # lock, or SQLite's write lock): what it handed over counts as sent, nothing after.
        result = session.execute(
            update(OutboxItem)
            .where(OutboxItem.message_id.in_(ids), OutboxItem.status.in_(STOPPABLE))
            .values(
                status=comms_rules.Status.SKIPPED,
                reason=STOPPED,
                claim_token=None,
                updated_at=now,
                sealed_secret=None,
            )
            .execution_options(synchronize_session=False)
        )
        stopped = int(result.rowcount)  # type: ignore[attr-defined]
    reached = _reached(session, ids) if ids else []
    if reached:
        subject, text = withdrawal_text(found.version)
        message = comms.enqueue(
            session, comms_ctx, actor=actor, kind="service_update", subject_ids=reached,
            subject=subject, text=text, html=None,
        )  # fmt: skip
        session.add(PolicyNotice(message_id=message.id, version_seq=seq, kind=WITHDRAWAL))
    row = PolicyWithdrawal(
        version_seq=seq, withdrawn_at=now, withdrawn_by=str(actor), notices_stopped=stopped,
        people_told=len(reached),
    )  # fmt: skip
    session.add(row)
    audit.record(
        session, actor=actor, action="policy.version.withdraw", subject_id=None, categories=[],
        purpose=None, outcome="ok", clock=clock,
    )  # fmt: skip
    session.flush()
    return row


def _reached(session: Session, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(OutboxItem.subject_id)
            .where(OutboxItem.message_id.in_(ids), OutboxItem.status == comms_rules.Status.SENT)
            .distinct()
            .order_by(OutboxItem.subject_id)
        )
    )
