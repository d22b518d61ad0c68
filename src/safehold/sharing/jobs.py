"""Delivery of Art. 19 notices to recipients' webhooks: signed, retried with exponential
backoff, acknowledged per recipient.

Each run claims due notices in small batches, one transaction per claim: a claim counts the
attempt and pushes ``next_attempt_at`` forward by a lease, so concurrent workers (PostgreSQL:
``FOR UPDATE SKIP LOCKED``) never send the same attempt twice, and a worker that dies
mid-batch only delays its notices by the lease. The HTTP requests run outside any
transaction, several at once; the batch's outcomes are then written in one transaction, each
guarded by the attempt number and state, so a staff acknowledgement made meanwhile is never
overwritten.

Delivery is at-least-once: a receiver that answered 2xx but whose answer was lost gets the
notice again, with the same ``webhook-id``, and must treat it as already handled.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from safehold import __version__
from safehold.config import RecipientWebhook
from safehold.db import transaction
from safehold.logs import get_logger
from safehold.runtime import Runtime
from safehold.sharing import rules, webhooks
from safehold.sharing.models import Propagation
from safehold.sharing.rules import Event, State

log = get_logger(__name__)

DELIVERY_BATCH = 20
POLL_SECONDS = 15.0  # the worker's wait after a round that found no notice due
CONCURRENCY = 8  # requests in flight at once within a batch
WEBHOOK_TIMEOUT = 10.0  # seconds per request; a slower answer counts as a failed attempt
LEASE_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    subject_id: uuid.UUID
    recipient_id: str
    event: Event
    categories: tuple[str, ...]
    created_at: datetime
    due_at: datetime
    attempts: int


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # e.g. {"HTTP 503": 2, "timeout": 1}


def _claim(
    sessions: sessionmaker[Session], recipients: Collection[str], now: datetime,
    batch_size: int, lease: timedelta,
) -> list[Claimed]:  # fmt: skip
    with transaction(sessions) as session:
        rows = session.scalars(
            select(Propagation)
            .where(
                Propagation.state == State.QUEUED.value,
                Propagation.next_attempt_at <= now,
                Propagation.recipient_id.in_(sorted(recipients)),
            )
            .order_by(Propagation.next_attempt_at, Propagation.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            row.attempts += 1
            row.last_attempt_at, row.next_attempt_at = now, now + lease
            claimed.append(
                Claimed(
                    row.id,
                    row.subject_id,
                    row.recipient_id,
                    Event(row.event),
                    tuple(row.categories),
                    row.created_at,
                    row.due_at,
                    row.attempts,
                )
            )
    return claimed


def _send(
    client: httpx.Client, target: RecipientWebhook, notice: Claimed, *, now: datetime,
    controller: tuple[str, str], timeout: float,
) -> tuple[bool, str]:  # fmt: skip
    """POST the signed notice; (delivered, "HTTP 200" / "timeout" / the transport error)."""
    body = webhooks.NoticeBody(
        notice_id=str(notice.id),
        webhook_type=notice.event.webhook_type,
        action=notice.event.action,
        subject_id=str(notice.subject_id),
        recipient_id=notice.recipient_id,
        categories=notice.categories,
        created_at=notice.created_at,
        respond_by=notice.due_at,
        controller_name=controller[0],
        controller_email=controller[1],
    ).encode()
    headers = webhooks.headers(target.secret, str(notice.id), int(now.timestamp()), body)
    try:
        response = client.post(target.url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return False, "timeout"
    except httpx.HTTPError as exc:  # connection refused, DNS, TLS …: the type says enough
        return False, f"transport error: {type(exc).__name__}"
    return response.is_success, f"HTTP {response.status_code}"


@dataclass(frozen=True)
class Attempt:
    notice: Claimed
    delivered: bool
    detail: str
    at: datetime  # when the answer, or the failure, came


def _record(
    sessions: sessionmaker[Session], attempts: list[Attempt]
) -> list[rules.AttemptOutcome | None]:
    """Write a batch's outcomes in one transaction; None where staff acted meanwhile."""
    outcomes: list[rules.AttemptOutcome | None] = []
    with transaction(sessions) as session:
        for a in attempts:
            outcome = rules.after_attempt(a.notice.attempts, a.delivered, a.at)
            written = session.execute(
                update(Propagation)
                .where(
                    Propagation.id == a.notice.id,
                    Propagation.state == State.QUEUED.value,
                    Propagation.attempts == a.notice.attempts,
                )
                .values(
                    state=outcome.state.value,
                    next_attempt_at=outcome.next_attempt_at,
                    last_error=None if a.delivered else a.detail,
                    acknowledged_at=a.at if a.delivered else None,
                    acknowledged_by=f"webhook:{a.detail}" if a.delivered else None,
                )
                .returning(Propagation.id)
            ).all()
            outcomes.append(outcome if written else None)
    return outcomes


def deliver_due(
    runtime: Runtime,
    *,
    client: httpx.Client | None = None,
    batch_size: int = DELIVERY_BATCH,
    timeout: float = WEBHOOK_TIMEOUT,
    concurrency: int = CONCURRENCY,
    max_batches: int | None = None,
) -> DeliveryReport:
    """Send every notice that is due to a recipient with a webhook; return what happened.

    Safe to run from any number of workers at once and to interrupt. Notices for recipients
    without a webhook (SAFEHOLD_RECIPIENT_WEBHOOKS) are left for staff. Up to
    ``concurrency`` requests of a batch are in flight at once, so one slow endpoint does not
    hold up the others for a whole batch of timeouts."""
    if batch_size < 1 or concurrency < 1:
        raise ValueError("batch_size and concurrency must be at least 1")
    targets: Mapping[str, RecipientWebhook] = runtime.settings.webhooks
    report = DeliveryReport()
    if not targets:
        return report
    controller = (runtime.policy.controller.name, runtime.policy.controller.email)
    rounds = -(-batch_size // concurrency)  # requests one sender makes per batch, at most
    lease = timedelta(seconds=timeout * rounds) + LEASE_MARGIN
    own = client is None
    http = client or httpx.Client(
        follow_redirects=False, headers={"user-agent": f"Safehold/{__version__} (webhooks)"}
    )

    def attempt(notice: Claimed) -> Attempt:
        target = targets[notice.recipient_id]
        now = runtime.clock.now()
        delivered, detail = _send(
            http, target, notice, now=now, controller=controller, timeout=timeout
        )
        return Attempt(notice, delivered, detail, runtime.clock.now())

    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="safehold-webhook") as pool:
            batches = 0
            while max_batches is None or batches < max_batches:
                claimed = _claim(runtime.sessions, targets, runtime.clock.now(), batch_size, lease)
                if not claimed:
                    break
                batches += 1
                attempts = list(pool.map(attempt, claimed))
                for a, outcome in zip(attempts, _record(runtime.sessions, attempts), strict=True):
                    _count(report, a.notice, a.delivered, a.detail, outcome)
    finally:
        if own:
            http.close()
    return report


def _count(
    report: DeliveryReport, notice: Claimed, delivered: bool, detail: str,
    outcome: rules.AttemptOutcome | None,
) -> None:  # fmt: skip
    report.attempted += 1
    if delivered:
        report.delivered += 1
    else:
        report.failed_attempts += 1
        report.errors[detail] = report.errors.get(detail, 0) + 1
    if outcome is None:
        result = "superseded"  # staff acknowledged or retried it while it was in flight
    elif outcome.state is State.QUEUED:
        result = "retry"
    else:
        result = outcome.state.value
        report.gave_up += outcome.state is State.FAILED
    # Ids and outcomes only: the notice id, never the person's id.
    log.info(
        "sharing.notice.attempt",
        notice_id=str(notice.id),
        recipient=notice.recipient_id,
        kind=notice.event.value,
        attempt=notice.attempts,
        outcome=result,
        detail=detail,
    )


def run(runtime: Runtime) -> int:
    """One bounded round for ``safehold worker``: at most one batch; the attempts it made."""
    return deliver_due(runtime, max_batches=1).attempted
