"""The request log is kept 24 months after each response, then the retention run deletes it
in batches: open requests stay, a re-run finds nothing, a crash loses one batch at most."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from safehold.access.models import AuditEntry
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.policy.durations import add_duration
from safehold.requests import rules as request_rules
from safehold.requests import service
from safehold.requests.models import DataRequest
from safehold.retention import jobs, request_log
from safehold.retention import rules as retention_rules
from safehold.runtime import Runtime
from tests.integration.requests.support import STAFF, ctx, person


def _answered(runtime: Runtime, sid: uuid.UUID, n: int) -> list[uuid.UUID]:
    """``n`` requests answered now (rejected as withdrawn), one left open."""
    ids = []
    with transaction(runtime.sessions) as session:
        for _ in range(n + 1):
            request = service.create(
                session, ctx(runtime), actor=STAFF, subject_id=sid, kind="access",
                channel="api", send=False,
            )  # fmt: skip
            ids.append(request.id)
        for rid in ids[:n]:
            service.reject(session, ctx(runtime), rid, actor=STAFF, reason="withdrawn")
    return ids


def _left(runtime: Runtime, sid: uuid.UUID) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).where(DataRequest.subject_id == sid)
        return int(session.scalar(query) or 0)


def _purged(report: jobs.Report) -> int:
    line = report.lines[(request_log.CATEGORY, request_log.CATEGORY)]
    return line.deleted


def test_answered_requests_leave_the_log_24_months_after_the_response(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    answered_at = clock.now()
    _answered(runtime, sid, 3)
    deadline = add_duration(answered_at, request_rules.REQUEST_LOG_RETENTION)
    clock.set(deadline - timedelta(microseconds=1))
    assert _purged(jobs.run(runtime)) == 0
    assert _left(runtime, sid) == 4
    clock.set(deadline)
    assert _purged(jobs.run(runtime, dry_run=True)) == 3
    assert _left(runtime, sid) == 4  # a dry run changes nothing
    report = jobs.run(runtime)
    assert _purged(report) == 3
    assert _left(runtime, sid) == 1  # the open request stays: it has no response yet
    assert "request_log" in {c["category"] for c in report.as_dict()["categories"]}
    assert _purged(jobs.run(runtime)) == 0  # idempotent
    with runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "retention.request_log.delete")
        ).all()
    assert actions


def test_a_crash_in_the_request_log_sweep_then_resumption(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = person(runtime)
    _answered(runtime, sid, 5)
    clock.set(add_duration(clock.now(), request_rules.REQUEST_LOG_RETENTION))
    monkeypatch.setattr(retention_rules, "BATCH", 2)
    real_delete = request_log.delete
    calls = 0

    class Crash(Exception):
        pass

    def crashing(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second batch: the first is committed
            raise Crash
        return real_delete(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(request_log, "delete", crashing)
    with pytest.raises(Crash):
        jobs.run(runtime)
    assert _left(runtime, sid) == 4  # one batch of two went
    monkeypatch.setattr(request_log, "delete", real_delete)
    assert _purged(jobs.run(runtime)) == 3
    assert _left(runtime, sid) == 1
