"""Erasure: carry out a verified erasure request, step by step, resumably.

Each step (:data:`rules.STEPS`) runs in its own transaction and records what it did in the
request's ``progress`` in that same transaction, so a crash between steps resumes at the
first step not recorded, and no step is done twice. A lease on the request keeps a second
runner out while one works; a runner that vanished leaves it after :data:`rules.ERASURE_LEASE`.

Order matters: recipients are notified while the disclosure records exist, the address goes
on the suppression list while its blind index exists, the keys are shredded before the rows
are deleted (so the data is unreadable at once, wherever copies are), and verification
looks for anything readable before the certificate is issued.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.comms import mailers, suppression
from safehold.comms import service as comms
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.db import checkpoint_wal, transaction
from safehold.events import history as events
from safehold.notices.models import Acceptance
from safehold.requests import certificate, mails, preview, rules, service
from safehold.requests.errors import ErasureRunning, NotAnErasure
from safehold.requests.models import DataRequest
from safehold.requests.rules import Kind, Status
from safehold.sharing import propagation
from safehold.subjects import emails
from safehold.subjects.models import EmailLookup, PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault.errors import DataKeyDestroyed
from safehold.web import sessions as web_sessions

SYSTEM = Actor("system", "erasure")


@dataclass(frozen=True)
class Run:
    """What a step works with: its transaction, the request, the person, the steps done."""

    session: Session
    ctx: service.Context
    request: DataRequest
    subject: Subject
    done: dict[str, Any]


Step = Callable[[Run], dict[str, Any]]


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _locked(session: Session, request_id: uuid.UUID) -> DataRequest:
    """The request, locked. The first statement is a write (the lease onto itself), so on
    SQLite the transaction holds the write lock before it reads anything: a concurrent writer
    (an ingestion batch) makes it wait, instead of failing to upgrade a stale read."""
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == request_id)
        .values(lease_until=DataRequest.lease_until)
        .execution_options(synchronize_session=False)
    )
    return service.get(session, request_id, lock=True)


def _claim(
    sessions: sessionmaker[Session], ctx: service.Context, request_id: uuid.UUID, actor: Actor
) -> bool:
    """Take the lease; False when the request is already answered (nothing to do)."""
    with transaction(sessions) as session:
        request = _locked(session, request_id)
        if request.kind != Kind.ERASURE:
            raise NotAnErasure("this request is not an erasure", details={})
        now = ctx.clock.now()
        status = Status(request.status)
        if status in rules.TERMINAL:
            return False
        if status is Status.IN_PROGRESS:
            if request.lease_until is not None and request.lease_until > now:
                raise ErasureRunning(
                    "this erasure is running; try again when it has finished",
                    details={"lease_until": _iso(request.lease_until)},
                )
        else:
            service.move(session, ctx, request, Status.IN_PROGRESS, actor=actor)
        request.lease_until = now + rules.ERASURE_LEASE
    return True


def erase(
    sessions: sessionmaker[Session], ctx: service.Context, request_id: uuid.UUID, *,
    actor: Actor = SYSTEM, after_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the erasure and return its certificate. ``after_step`` is called
    after each committed step (progress bars; tests inject a crash there)."""
    if _claim(sessions, ctx, request_id, actor):
        while True:
            checkpoint_first = False
            with transaction(sessions) as session:
                request = _locked(session, request_id)
                step = rules.next_step(request.progress)
                if step is None:
                    break
                checkpoint_first = (
                    step == "certificate" and "wal_checkpoint" not in request.progress
                )
            if checkpoint_first:  # outside any transaction, after every deletion committed
                _checkpoint(sessions, request_id)
            with transaction(sessions) as session:
                request = _locked(session, request_id)
                if rules.next_step(request.progress) != step:
                    raise ErasureRunning("another runner took this erasure over", details={})
                subject = session.get(Subject, request.subject_id)
                assert subject is not None  # a request's person is never deleted (FK)
                done = dict(request.progress)
                result = STEPS[step](Run(session, ctx, request, subject, done))
                request.progress = {**done, step: result}
                if Status(request.status) not in rules.TERMINAL:
                    request.lease_until = ctx.clock.now() + rules.ERASURE_LEASE
            if after_step is not None:
                after_step(step)
    with transaction(sessions) as session:
        request = service.get(session, request_id)
        return dict(request.certificate or {})


def _checkpoint(sessions: sessionmaker[Session], request_id: uuid.UUID) -> None:
    """SQLite: move the WAL into the database file and truncate it, so the deleted rows'
    old page images leave no copy in the log (``secure_delete`` zeroes them in the file).
    The outcome is recorded for the certificate."""
    outcome = checkpoint_wal(sessions)  # outside any write transaction
    with transaction(sessions) as session:
        request = _locked(session, request_id)
        request.progress = {**request.progress, "wal_checkpoint": outcome}


# --- the steps ----------------------------------------------------------------------------


def _plan(run: Run) -> dict[str, Any]:
    # From the first step on the person takes no new data: ingestion (which locks the row
    # and checks the status) refuses their events, so nothing lands behind the deletion and
    # no data key is created again after the shred. The tombstone is completed at close.
    run.session.execute(
        update(Subject)
        .where(Subject.id == run.subject.id)
        .values(status="erased")
        .execution_options(synchronize_session="fetch")
    )
    return plan_json(preview.plan_for(run.session, run.ctx, run.subject.id))


def plan_json(plan: rules.Plan) -> dict[str, Any]:
    return {
        "erase_classes": list(plan.erase_classes),
        "erase_categories": list(plan.erase_categories),
        "kept": [
            {
                "category": h.category,
                "classes": list(h.classes),
                "kind": h.kind,
                "ref": h.ref,
                "reason": h.reason,
                "legal_basis": h.legal_basis,
                "until": _iso(h.until),
            }
            for h in plan.kept
        ],
        "partial": plan.partial,
        "not_applicable": [
            {"exception": ref, "only_for_people_with": list(needs)}
            for ref, needs in plan.not_applicable
        ],
    }


def _keeps(done: dict[str, Any], category: str, retention_class: str) -> bool:
    return any(
        k["category"] == category and retention_class in k["classes"] for k in done["plan"]["kept"]
    )


def _notify(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    notices = propagation.notify_erasure(
        session, subject.id, policy=ctx.policy, clock=ctx.clock, actor=SYSTEM
    )
    return {"recipients": sorted({n.recipient_id for n in notices})}


def _suppress(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    if subject.email_index is None:
        return {"suppressed": False}
    suppression.suppress_erased(session, subject.email_index, clock=ctx.clock, actor=SYSTEM)
    return {"suppressed": True}


def _queue_completion_mail(run: Run) -> dict[str, Any]:
    """Before the address is shredded: the e-mail that will say the erasure was carried out,
    held until the certificate is issued, its address under a key of its own."""
    return mails.erasure_completed(run.session, run.ctx.comms, run.request)


def _completion_row(done: dict[str, Any]) -> uuid.UUID | None:
    queued = done.get("queue_completion_mail", {})
    return uuid.UUID(queued["item_id"]) if queued.get("queued") else None


def _shred(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    done = run.done
    classes = done["plan"]["erase_classes"]
    # The request id is the certificate's: the erasure ledger names it (safehold.backup).
    destroyed = ctx.vault.shred(session, subject.id, classes, ref=str(run.request.id))
    return {"destroyed": destroyed}


def _delete_rows(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    done = run.done
    values: dict[str, int] = {}
    for row in list(
        session.scalars(select(PersonalValue).where(PersonalValue.subject_id == subject.id))
    ):
        if not _keeps(done, row.category, row.retention_class):
            values[row.category] = values.get(row.category, 0) + 1
            session.delete(row)
    token_class = ctx.policy.retention_class(PAYMENT, "processor_token")
    record_class = ctx.policy.retention_class(PAYMENT, "last4")
    cards = list(
        session.scalars(select(PaymentMethod).where(PaymentMethod.subject_id == subject.id))
    )
    cards_deleted = cards_trimmed = 0
    for card in cards:
        if not _keeps(done, PAYMENT, record_class):
            session.delete(card)
            cards_deleted += 1
        elif not _keeps(done, PAYMENT, token_class):
            card.token = b""  # its key is shredded; drop the ciphertext too
            cards_trimmed += 1
    choices = session.execute(
        delete(MarketingChoice).where(MarketingChoice.subject_id == subject.id)
    )
    accepted = session.execute(delete(Acceptance).where(Acceptance.subject_id == subject.id))
    signed_in = web_sessions.end_all_for(session, subject.id)  # privacy-center sessions, codes
    completion = _completion_row(done)
    session.execute(  # e-mails to another address not settled yet (but the completion e-mail)
        update(OutboxItem)
        .where(
            OutboxItem.subject_id == subject.id,
            OutboxItem.recipient_index.is_not(None),
            *([OutboxItem.id != completion] if completion is not None else []),
        )
        .values(recipient_index=None, sealed_recipient=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return {
        "personal_values": values,
        "payment_methods_deleted": cards_deleted,
        "payment_tokens_removed": cards_trimmed,
        "marketing_choices": int(getattr(choices, "rowcount", 0)),
        "policy_acceptances": int(getattr(accepted, "rowcount", 0)),
        "web_sessions": signed_in,
    }


def _delete_events(run: Run) -> dict[str, Any]:
    session = run.session
    subject = run.subject
    gone = events.erase(session, subject.id)
    return {"events": gone.events, "logins": gone.logins, "devices": gone.devices}


def _delete_mail_copies(run: Run) -> dict[str, Any]:
    """The console mail backend's copies of the e-mails sent to the person (kept in the
    data directory the certificate vouches for); the SMTP backend keeps none."""
    folder = run.ctx.comms.mail.copies
    if folder is None:
        return {"kept_by_backend": False, "deleted": 0}
    rows = run.session.scalars(select(OutboxItem.id).where(OutboxItem.subject_id == run.subject.id))
    return {"kept_by_backend": True, "deleted": mailers.erase_copies(folder, rows)}


def _close(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    done = run.done
    now = ctx.clock.now()
    emails.release(session, [subject])  # the address finds no one, with the index gone
    session.execute(
        update(Subject)
        .where(Subject.id == subject.id)
        .values(
            status="erased",
            erased_at=now,
            closed_at=subject.closed_at or now,
            email_index=None,
            phone_index=None,
        )
        .execution_options(synchronize_session="fetch")
    )
    audit.record(
        session, actor=SYSTEM, action="subject.erase", subject_id=subject.id,
        categories=done["plan"]["erase_categories"], purpose=service.PURPOSE, outcome="ok",
        clock=ctx.clock,
    )  # fmt: skip
    return {"erased_at": _iso(now)}


def _verify(run: Run) -> dict[str, Any]:
    session = run.session
    ctx = run.ctx
    subject = run.subject
    done = run.done
    """Look for anything readable of what was erased: every shredded class's key must be
    gone (a decrypt attempt raises DataKeyDestroyed) and no erased row may remain."""
    unreadable: dict[str, bool] = {}
    for klass in done["plan"]["erase_classes"]:
        try:
            ctx.vault.data_key(session, subject.id, klass, create=False)
            unreadable[klass] = False
        except DataKeyDestroyed:
            unreadable[klass] = True
    left = [
        (row.category, row.retention_class)
        for row in session.scalars(
            select(PersonalValue).where(PersonalValue.subject_id == subject.id)
        )
        if not _keeps(done, row.category, row.retention_class)
    ]
    indexes = session.execute(
        select(Subject.email_index, Subject.phone_index).where(Subject.id == subject.id)
    ).one()
    found_by_address = session.scalar(
        select(EmailLookup.email_index).where(EmailLookup.subject_id == subject.id).limit(1)
    )
    cleared = indexes == (None, None) and found_by_address is None
    ok = all(unreadable.values()) and not left and cleared
    return {"ok": ok, "keys_destroyed": unreadable, "rows_left": len(left),
            "indexes_cleared": cleared}  # fmt: skip


def _certificate(run: Run) -> dict[str, Any]:
    session, ctx, request, done = run.session, run.ctx, run.request, run.done
    now = ctx.clock.now()
    partial = done["plan"]["partial"] or not done["verify"]["ok"]
    target = Status.PARTIALLY_COMPLETED if partial else Status.COMPLETED
    rules.check_transition(request.status, target)
    request.certificate = {
        **certificate.build(request, done, issued_at=now, kept_for_mail=mails.KEPT_REASON),
        "outcome": str(target),
    }
    request.lease_until = None
    service.move(session, ctx, request, target, actor=SYSTEM)
    queued = done.get("queue_completion_mail", {})
    released = (
        comms.release(session, uuid.UUID(queued["message_id"]), clock=ctx.clock)
        if queued.get("queued")
        else 0
    )
    return {"issued_at": _iso(now), "completion_mail_released": released}


STEPS: dict[str, Step] = {
    "plan": _plan,
    "notify_recipients": _notify,
    "suppress_address": _suppress,
    "queue_completion_mail": _queue_completion_mail,
    "shred": _shred,
    "delete_rows": _delete_rows,
    "delete_events": _delete_events,
    "delete_mail_copies": _delete_mail_copies,
    "close_subject": _close,
    "verify": _verify,
    "certificate": _certificate,
}
assert tuple(STEPS) == rules.STEPS
