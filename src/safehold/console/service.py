"""View models of the admin console: each page's figures, assembled from the feature
services (requests, subjects, retention, audit, comms, notices). Read-only: the actions
call the feature services themselves, which audit and flush; the routes commit.

Nothing here returns personal data: a person's page is :mod:`safehold.console.person`, which
reads it through the feature services for the purpose the staff member chose (audited).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.chain import Verification
from safehold.access.models import AuditEntry
from safehold.comms import service as comms
from safehold.comms.models import Message, OutboxItem
from safehold.comms.rules import Status as Delivery
from safehold.console import rules
from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.policy import Policy
from safehold.policy.document import RetentionFrom
from safehold.policy.durations import add_duration
from safehold.requests import restriction
from safehold.requests import rules as request_rules
from safehold.requests import service as requests
from safehold.requests.models import DataRequest
from safehold.retention import rules as retention_rules
from safehold.retention import runs
from safehold.retention import service as retention
from safehold.retention.models import LegalHold, RetentionRun
from safehold.subjects.models import Restriction, Subject

# --- overview and the requests queue --------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    open: int
    overdue: int
    next_deadline: datetime | None
    open_by_kind: dict[str, int]


def overview(session: Session, now: datetime) -> Overview:
    open_ = requests.listing(session, now=now, status=sorted(request_rules.OPEN))
    return Overview(
        open=len(open_),
        overdue=requests.overdue_count(session, now),
        next_deadline=open_[0].deadline_at if open_ else None,
        open_by_kind=dict(sorted(Counter(r.kind for r in open_).items())),
    )


@dataclass(frozen=True)
class QueueRow:
    request: DataRequest
    overdue: bool


def queue(
    session: Session, now: datetime, *, statuses: list[str] | None, kind: str | None,
    assignee: uuid.UUID | None = None, unassigned: bool = False,
) -> list[QueueRow]:  # fmt: skip
    """Requests in ``statuses`` (``None``: any) by deadline, soonest first, each marked
    overdue or not; only ``assignee``'s, or only the unassigned, when asked."""
    found = requests.listing(
        session, now=now, status=statuses, limit=rules.QUEUE_LIMIT, assignee=assignee,
        unassigned=unassigned,
    )  # fmt: skip
    return [
        QueueRow(r, request_rules.is_overdue(r.status, r.deadline_at, now))
        for r in found
        if kind is None or r.kind == kind
    ]


@dataclass(frozen=True)
class RequestPage:
    request: DataRequest
    overdue: bool
    actions: frozenset[str]
    steps: list[str]
    restriction: Restriction | None = None
    lift_notice_status: str | None = None  # the outbox state of the e-mail announcing the lift


def request_page(session: Session, request_id: uuid.UUID, now: datetime) -> RequestPage:
    request = requests.get(session, request_id)
    row = restriction.of_request(session, request.id)
    notice = (
        session.get(OutboxItem, (row.subject_id, row.lift_notice_item))
        if row and row.lift_notice_item
        else None
    )
    actions = rules.actions(request.kind, request.status, request.extended_at is not None)
    if row is not None:
        actions |= rules.restriction_actions(row.lifted_at is not None)
    return RequestPage(
        request,
        request_rules.is_overdue(request.status, request.deadline_at, now),
        actions,
        [s for s in request_rules.STEPS if s in request.progress],
        row,
        notice.status if notice is not None else None,
    )


# --- retention status -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    what: str  # "events of 2026-01", "account data of 3 closed accounts"
    rule: str
    due_at: datetime


@dataclass(frozen=True)
class RetentionStatus:
    expiries: list[Expiry]
    last_run: RetentionRun | None
    holds: list[LegalHold]


def _event_expiries(session: Session, policy: Policy, now: datetime) -> list[Expiry]:
    """Each stored month that has begun (later ones are made ahead, empty) and when it
    may be dropped whole."""
    categories = sorted(events_jobs.stored_categories(policy))
    if not categories:
        return []
    rule_ids = sorted({policy.retention_rule_for(c).id for c in categories})
    periods = [policy.retention_rule_for(c).period for c in categories]
    out = []
    begun = [m for m in storage.months(session) if m <= now.date()]
    for month in begun[: rules.EXPIRIES_SHOWN]:
        end = event_rules.month_bounds(month)[1]
        due = max(add_duration(end, p) for p in periods)  # a month goes whole, once all may
        out.append(Expiry(f"events of {month:%Y-%m}", ", ".join(rule_ids), due))
    return out


def _closure_expiries(session: Session, policy: Policy) -> list[Expiry]:
    out = []
    for klass in retention_rules.class_rules(policy):
        if klass.start is not RetentionFrom.ACCOUNT_CLOSED:
            continue
        closed = session.scalars(
            select(Subject.closed_at)
            .where(Subject.status == "closed", Subject.closed_at.is_not(None))
            .order_by(Subject.closed_at)
            .limit(rules.EXPIRIES_SHOWN)
        ).all()
        groups: dict[date, list[datetime]] = {}
        for closed_at in closed:
            if closed_at is not None:
                due = retention_rules.ends_at(closed_at, klass.period)
                groups.setdefault(due.date(), []).append(due)
        for dues in groups.values():
            noun = "account" if len(dues) == 1 else "accounts"
            what = f"{', '.join(klass.categories)} of {len(dues)} closed {noun}"
            out.append(Expiry(what, klass.retention_class, min(dues)))
    return out


def retention_status(session: Session, policy: Policy, now: datetime) -> RetentionStatus:
    """What expires next (event months, accounts closed longest ago), the last run's
    report, and the holds in force."""
    expiries = sorted(
        [*_event_expiries(session, policy, now), *_closure_expiries(session, policy)],
        key=lambda e: e.due_at,
    )
    return RetentionStatus(
        expiries[: rules.EXPIRIES_SHOWN * 2],
        runs.latest(session),
        retention.holds(session, active_at=now),
    )


# --- audit log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    verification: Verification
    older: int | None  # the ``before`` of the next (older) page, None at the oldest


def audit_page(
    session: Session, *, before: int | None, action: str | None, subject_id: uuid.UUID | None,
    actor: str | None = None,
) -> AuditPage:  # fmt: skip
    """Newest first, :data:`rules.AUDIT_PAGE` at a time, filtered by action (prefix), person
    and actor (``staff:<id>`` matches the member under any role they held); with the whole
    chain's verification."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(rules.AUDIT_PAGE + 1)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    if actor:
        under_a_role = AuditEntry.actor.startswith(f"{actor}/", autoescape=True)
        query = query.where(or_(AuditEntry.actor == actor, under_a_role))
    rows = list(session.scalars(query))
    more = len(rows) > rules.AUDIT_PAGE
    rows = rows[: rules.AUDIT_PAGE]
    return AuditPage(rows, audit.verify(session), rows[-1].seq if more and rows else None)


# --- messages and the outbox -----------------------------------------------------------------


@dataclass(frozen=True)
class MessagesPage:
    totals: dict[str, int]
    messages: list[comms.MessageView]
    failures: list[OutboxItem]


def messages_page(session: Session) -> MessagesPage:
    totals = {str(s): 0 for s in Delivery}
    for status, count in session.execute(
        select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
    ):
        totals[status] = int(count)
    newest = session.scalars(
        select(Message.id).order_by(Message.created_at.desc()).limit(rules.MESSAGES_SHOWN)
    ).all()
    failures = session.scalars(
        select(OutboxItem)
        .where(OutboxItem.status == Delivery.FAILED)
        .order_by(OutboxItem.updated_at.desc())
        .limit(rules.FAILURES_SHOWN)
    ).all()
    return MessagesPage(totals, [comms.view(session, m) for m in newest], list(failures))
