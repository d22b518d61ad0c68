"""Reminder e-mails about requests' deadlines (decision 0040), a periodic job of
``safehold worker``: :data:`Reminder.DUE_SOON` to the assignee of an open request whose
deadline is ``SAFEHOLD_REQUEST_REMINDER_DAYS`` days away or less, and
:data:`Reminder.OVERDUE` to the privacy officers (the owners, when there is no privacy
officer) once an open request's deadline has passed.

Once per threshold per deadline: a ``request_reminders`` row, written in the transaction
that sends, makes every later round (and every other worker) skip it — an extended deadline
is a new deadline, reminded afresh. When there is no one to e-mail (no assignee with a kept
address), the row records 0 recipients and nothing is retried. A delivery that fails rolls
the row back, so the next round tries again. The e-mails name the request, its kind and its
deadline, never the person.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.db import transaction
from safehold.requests import rules
from safehold.requests.models import DataRequest, RequestReminder
from safehold.requests.ownership import may_own
from safehold.requests.service import Context, record
from safehold.runtime import Runtime
from safehold.staff import addresses, mail
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role

POLL_SECONDS = 300.0  # a reminder is a day's matter: every five minutes is plenty
BATCH = 100  # requests reminded per round
ACTOR = Actor("system", "request-reminders")


class Reminder(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


def _not_sent(threshold: Reminder) -> ColumnElement[bool]:
    return ~exists().where(
        RequestReminder.subject_id == DataRequest.subject_id,
        RequestReminder.request_id == DataRequest.id,
        RequestReminder.threshold == str(threshold),
        RequestReminder.deadline_at == DataRequest.deadline_at,
    )


def due(
    session: Session, now: datetime, days: int, limit: int = BATCH
) -> list[tuple[uuid.UUID, Reminder]]:
    """The (request, threshold) pairs owed a reminder now, soonest deadline first."""
    soon = and_(
        DataRequest.assignee_id.isnot(None), DataRequest.deadline_at > now,
        DataRequest.deadline_at <= now + timedelta(days=days), _not_sent(Reminder.DUE_SOON),
    )  # fmt: skip
    late = and_(DataRequest.deadline_at < now, _not_sent(Reminder.OVERDUE))
    rows = session.execute(
        select(DataRequest.id, DataRequest.deadline_at)
        .where(DataRequest.status.in_(sorted(rules.OPEN)), or_(soon, late))
        .order_by(DataRequest.deadline_at, DataRequest.id)
        .limit(limit)
    )
    return [
        (rid, Reminder.OVERDUE if deadline < now else Reminder.DUE_SOON) for rid, deadline in rows
    ]


def recipients(session: Session, request: DataRequest, threshold: Reminder) -> list[StaffMember]:
    """Who a reminder goes to (members whose address is kept are e-mailed)."""
    if threshold == Reminder.DUE_SOON:
        member = session.get(StaffMember, request.assignee_id) if request.assignee_id else None
        return [member] if member is not None and may_own(member) else []
    active = list(session.scalars(select(StaffMember).where(StaffMember.removed_at.is_(None))))
    officers = [m for m in active if m.role == Role.PRIVACY_OFFICER]
    return officers or [m for m in active if m.role == Role.OWNER]


def text(operator: str, request: DataRequest, threshold: Reminder, link: str) -> tuple[str, str]:
    """The reminder's subject and text: the request's id, kind and deadline, no person."""
    short, day = str(request.id)[:8], request.deadline_at.strftime("%Y-%m-%d %H:%M UTC")
    if threshold == Reminder.DUE_SOON:
        subject = f"Request {short} is due on {request.deadline_at:%Y-%m-%d}"
        opening = f"The {request.kind} request {short}, assigned to you, is due on {day}."
    else:
        subject = f"Request {short} is overdue"
        opening = f"The {request.kind} request {short} was due on {day} and is not answered yet."
    body = f"{opening}\n\nOpen it in the admin console of {operator}: {link}"
    return subject, body


def remind(
    session: Session, ctx: Context, send: mail.Send, request_id: uuid.UUID, threshold: Reminder,
    *, base_url: str, operator: str,
) -> int:  # fmt: skip
    """Send one reminder (in the caller's transaction); the members e-mailed, or -1 when it
    was sent already (by another round or worker) or is no longer owed."""
    now = ctx.clock.now()
    request = session.scalars(
        select(DataRequest)
        .where(DataRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()  # by id alone: keyed (subject_id, id), decision 0044
    if request is None or rules.Status(request.status) not in rules.OPEN:
        return -1
    row = RequestReminder(
        subject_id=request.subject_id, request_id=request.id, threshold=str(threshold),
        deadline_at=request.deadline_at, sent_at=now, recipients=0,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return -1
    link = f"{base_url.rstrip('/')}/admin/requests/{request.id}"
    subject, body = text(operator, request, threshold, link)
    for member in recipients(session, request, threshold):
        address = addresses.address_of(ctx.vault, member)
        if address is not None:
            send(address, subject, body)
            row.recipients += 1
    session.flush()
    record(session, ctx, ACTOR, f"request.reminder.{threshold}", request)
    return row.recipients


def run(runtime: Runtime) -> int:
    """One round: every reminder owed now (at most :data:`BATCH`), one transaction each."""
    ctx = Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))
    operator = runtime.policy.policy.operator
    send = mail.sender(runtime.settings, operator, runtime.clock.now)
    with runtime.sessions() as session:
        owed = due(session, runtime.clock.now(), runtime.settings.request_reminder_days)
    done = 0
    for request_id, threshold in owed:
        with transaction(runtime.sessions) as session:
            sent = remind(session, ctx, send, request_id, threshold,
                          base_url=runtime.settings.base_url, operator=operator)  # fmt: skip
        done += sent >= 0
    return done
