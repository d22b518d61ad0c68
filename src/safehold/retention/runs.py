"""The record of retention runs: each finished run keeps its report (counts only), so the
admin console can show what the last run did — and whether it was a dry run — after the
process that ran it is gone. Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safehold.clock import Clock
from safehold.db import transaction
from safehold.retention.models import RetentionRun
from safehold.retention.report import Report

LINE_FIELDS = ("category", "retention_class", "action", "deleted", "people", "keys_shredded",
               "months_dropped", "notes")  # fmt: skip
HELD_FIELDS = ("hold_id", "until", "people", "rows")  # a hold's reason text stays out


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the holds' free text (a reason may name a case or a person):
    per category the counts, the months dropped, and per hold its id, end and counts."""
    lines = [
        {
            **{k: line[k] for k in LINE_FIELDS},
            "held_back": [{k: h[k] for k in HELD_FIELDS} for h in line["held_back"]],
        }
        for line in report.get("categories", [])
    ]
    return {"at": report.get("at"), "dry_run": report.get("dry_run"), "categories": lines}


def record(
    session: Session, report: dict[str, Any], *, started_at: datetime, finished_at: datetime,
    dry_run: bool,
) -> RetentionRun:  # fmt: skip
    """Keep a finished run's report (``Report.as_dict()``), reduced by :func:`summary`."""
    run = RetentionRun(
        id=uuid.uuid4(), started_at=started_at, finished_at=finished_at, dry_run=dry_run,
        report=summary(report),
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def keep(sessions: sessionmaker[Session], report: Report, *, clock: Clock) -> None:
    """Record a run that just finished, in a transaction of its own (the run's batches
    have each committed already): what the retention run calls last."""
    with transaction(sessions) as session:
        record(session, report.as_dict(), started_at=report.at, finished_at=clock.now(),
               dry_run=report.dry_run)  # fmt: skip


def latest(session: Session) -> RetentionRun | None:
    return session.scalars(
        select(RetentionRun).order_by(RetentionRun.started_at.desc(), RetentionRun.id).limit(1)
    ).first()
