"""`safehold worker`: the process that runs Safehold's periodic jobs.

A job is a function that does one bounded round of work and says how much it did. The
worker runs each job again at once while it finds work, and waits its interval when it finds
none. Any number of workers may run side by side: the jobs share their work through the
database (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); on SQLite run one.

:func:`registered_jobs` is the table of contents: a feature adds its job there.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from safehold.cli_support import fail, runtime_or_exit, settings_or_exit
from safehold.logs import configure_logging, get_logger

if TYPE_CHECKING:
    from safehold.runtime import Runtime

# The jobs are imported when a worker starts: `safehold worker --help` needs none (cli_group).

ERROR_PAUSE = 10.0  # seconds a job rests after it raised, so a broken dependency is not hammered
MAX_DRAIN_ROUNDS = 10_000  # --once: a job that never runs out of work stops here

log = get_logger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Runtime], int]  # one bounded round; returns how much work it did (0: idle)
    interval: float  # seconds to wait after a round that found nothing to do


def registered_jobs() -> tuple[Job, ...]:
    """Every periodic job, in the order a worker runs them."""
    from safehold.access import checkpoint_jobs, checkpoints
    from safehold.analytics import jobs as analytics_jobs
    from safehold.comms import jobs as comms_jobs
    from safehold.events import jobs as events_jobs
    from safehold.promises import jobs as promise_jobs
    from safehold.requests import reminders
    from safehold.retention import jobs as retention_jobs
    from safehold.sharing import jobs as sharing_jobs
    from safehold.web import jobs as web_jobs

    return (
        Job("web.sign_in", web_jobs.send_codes, web_jobs.SIGN_IN_SECONDS),  # sign-in codes
        Job("comms.outbox", comms_jobs.run, comms_jobs.POLL_SECONDS),  # deliver queued e-mail
        Job("sharing.notices", sharing_jobs.run, sharing_jobs.POLL_SECONDS),  # Art. 19 webhooks
        Job("events.maintenance", events_jobs.maintain, events_jobs.MAINTENANCE_SECONDS),
        Job("retention.daily", retention_jobs.daily, retention_jobs.DAILY_SECONDS),
        Job("analytics.rollups", analytics_jobs.run, analytics_jobs.POLL_SECONDS),  # roll-ups
        Job("web.sessions", web_jobs.purge, web_jobs.PURGE_SECONDS),  # ended sign-ins
        Job("promises.daily", promise_jobs.daily, promise_jobs.POLL_SECONDS),  # live checks
        Job("audit.checkpoint", checkpoint_jobs.run, checkpoints.POLL_SECONDS),  # seal heads
        Job("requests.reminders", reminders.run, reminders.POLL_SECONDS),  # deadlines near
    )


class Worker:
    """Runs jobs until told to stop. ``now`` is a monotonic clock in seconds."""

    def __init__(
        self, runtime: Runtime, jobs: Sequence[Job], *, stop: threading.Event | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.runtime = runtime
        self.jobs = list(jobs)
        self.stop = stop or threading.Event()
        self.now = now
        self.failures = 0

    def run_job(self, job: Job) -> int | None:
        """One round of ``job``; None when it raised (logged with its frames only: an
        exception's message may quote personal data or SQL parameters)."""
        try:
            return job.run(self.runtime)
        except Exception as exc:
            self.failures += 1
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("job_failed", job=job.name, error_type=type(exc).__name__, frames=frames)
            return None

    def drain(self) -> int:
        """Run every job until it finds nothing to do (``--once``); returns the failures."""
        for job in self.jobs:
            for _ in range(MAX_DRAIN_ROUNDS):
                if self.stop.is_set():
                    return self.failures
                done = self.run_job(job)
                if not done:
                    break
        return self.failures

    def run_forever(self) -> None:
        due = dict.fromkeys((job.name for job in self.jobs), self.now())
        while not self.stop.is_set():
            for job in self.jobs:
                if self.stop.is_set():
                    break
                if due[job.name] > self.now():
                    continue
                done = self.run_job(job)
                pause = ERROR_PAUSE if done is None else (0.0 if done else job.interval)
                due[job.name] = self.now() + pause
            wait = min(due.values()) - self.now()
            if wait > 0:
                self.stop.wait(wait)


def jobs_in_background(runtime: Runtime) -> Worker:
    """The jobs in a daemon thread of this process: ``safehold serve`` on one machine with
    the embedded database needs no second process (a separate ``safehold worker`` is still
    fine: the jobs share their work through the database)."""
    from safehold.comms import jobs as comms_jobs

    worker = Worker(runtime, registered_jobs())
    threading.Thread(target=worker.run_forever, name="safehold-jobs", daemon=True).start()
    log.info("worker_started", worker=comms_jobs.WORKER_ID, jobs=[j.name for j in worker.jobs])
    return worker


def command(
    once: Annotated[
        bool, typer.Option("--once", help="Run every job until it is idle, then exit")
    ] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only this job (repeatable)")] = None,
) -> None:
    """Run the periodic jobs (e-mail delivery, …) until stopped (SIGTERM or Ctrl-C)."""
    from safehold import migrate
    from safehold.backup.commands import refuse_if_behind
    from safehold.comms import jobs as comms_jobs

    settings = settings_or_exit()
    configure_logging(settings.log_format, settings.log_level)
    runtime = runtime_or_exit(settings)
    if not migrate.is_current(runtime.engine):
        fail("the database is behind the code: run 'safehold db upgrade' first")
    refuse_if_behind(runtime)  # a restored copy replays its erasures before any job runs
    jobs = [j for j in registered_jobs() if not only or j.name in only]
    unknown = sorted(set(only or ()) - {j.name for j in registered_jobs()})
    if unknown:
        fail(f"unknown job {unknown[0]}; jobs: {', '.join(j.name for j in registered_jobs())}")
    if not settings.base_url.startswith("https://"):
        log.warning("base_url_not_https", hint="mail clients offer one-click unsubscribe for https")
    if not runtime.vault.provider.destroys_epochs():  # docs/vault.md, "Key epochs"
        log.warning("epochs_unsupported", hint="SAFEHOLD_KEK cannot destroy one month's key")
    worker = Worker(runtime, jobs)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker_stopping", signal=signal.Signals(signum).name)
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker_started", worker=comms_jobs.WORKER_ID, jobs=[j.name for j in jobs])
    try:
        if once:
            failures = worker.drain()
            raise typer.Exit(1 if failures else 0)
        worker.run_forever()
    finally:
        runtime.close()
        log.info("worker_stopped", worker=comms_jobs.WORKER_ID)
