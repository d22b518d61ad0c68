"""Run every promise check, keep the run, read the last one. Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.promises import (
    acceptance_checks,
    epoch_checks,
    erasure_checks,
    integrity_checks,
    procedure_checks,
    record_checks,
    restriction_checks,
    retention_checks,
    use_checks,
)
from safehold.promises.models import PromiseRun
from safehold.promises.rules import Check, Context, Result, result, violations
from safehold.vault.providers import KeyProvider

CHECKS: tuple[Check, ...] = (
    *retention_checks.CHECKS,
    *epoch_checks.CHECKS,
    *record_checks.CHECKS,
    *acceptance_checks.CHECKS,
    *restriction_checks.CHECKS,
    *use_checks.CHECKS,
    *erasure_checks.CHECKS,
    *procedure_checks.CHECKS,
    *integrity_checks.CHECKS,
)


def check_ids() -> tuple[str, ...]:
    return tuple(c.id for c in CHECKS)


def run(
    session: Session, policy: Policy, now: datetime, *, keys: KeyProvider | None = None
) -> list[Result]:
    """Every check over the live tables (and, given ``keys``, the key provider), in order."""
    book = PolicyBook(policy)
    book.load(session)
    ctx = Context(session, policy, now, book, keys)
    return [result(check, check.run(ctx)) for check in CHECKS]


def record(
    session: Session, results: list[Result], *, started_at: datetime, finished_at: datetime,
    trigger: str,
) -> PromiseRun:  # fmt: skip
    row = PromiseRun(
        id=uuid.uuid4(), started_at=started_at, finished_at=finished_at, trigger=trigger,
        violated=violations(results), results=[r.as_dict() for r in results],
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def latest(session: Session) -> PromiseRun | None:
    return session.scalars(
        select(PromiseRun).order_by(PromiseRun.started_at.desc(), PromiseRun.id).limit(1)
    ).first()


def results_of(run_row: PromiseRun) -> list[Result]:
    return [Result.from_dict(r) for r in run_row.results]
