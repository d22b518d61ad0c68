"""Run the checks and keep the run: from the CLI, the console and the worker's daily job."""

from __future__ import annotations

from datetime import timedelta

from safehold.db import reading_only, transaction
from safehold.logs import get_logger
from safehold.promises import service
from safehold.promises.models import PromiseRun
from safehold.promises.rules import Result
from safehold.runtime import Runtime

DAILY = timedelta(days=1)
POLL_SECONDS = 3600.0  # the worker looks hourly whether a day has passed since the last run
log = get_logger(__name__)


def check_and_keep(runtime: Runtime, *, trigger: str) -> tuple[PromiseRun, list[Result]]:
    """One run of every check (a read-only transaction), then its record (a short write)."""
    started = runtime.clock.now()
    with runtime.sessions() as session:
        reading_only(session)  # SQLite: the long read never holds the write lock
        results = service.run(session, runtime.policy, started, keys=runtime.vault.provider)
    with transaction(runtime.sessions) as session:
        row = service.record(
            session, results, started_at=started, finished_at=runtime.clock.now(),
            trigger=trigger,
        )  # fmt: skip
    for r in results:
        if not r.held:
            log.warning("promise_violated", check=r.id, count=r.count, examples=list(r.examples))
    log.info(
        "promises_checked", checks=len(results), violated=row.violated, trigger=trigger,
        seconds=round((row.finished_at - started).total_seconds(), 3),
    )  # fmt: skip
    return row, results


def daily(runtime: Runtime) -> int:
    """The worker's job: a run when none was made in the last day (whichever process made
    it), so restarts and several workers still check about once a day. Returns 0 either way:
    the worker then waits :data:`POLL_SECONDS` before it looks again."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        reading_only(session)
        last = service.latest(session)
        if last is not None and last.started_at > now - DAILY:
            return 0
    check_and_keep(runtime, trigger="worker")
    return 0
