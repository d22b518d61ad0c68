"""The worker's loop and its registry of periodic jobs, with fake jobs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import cast

from safehold.comms import jobs as comms_jobs
from safehold.policy.durations import add_duration
from safehold.policy.rules import SWEEP_GRACE
from safehold.promises import jobs as promise_jobs
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime
from safehold.worker import Job, Worker, registered_jobs

RUNTIME = cast(Runtime, object())  # the fake jobs never touch it
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Countdown:
    """A job with ``work`` rounds of work to do, then idle; records every call."""

    def __init__(self, work: int) -> None:
        self.work, self.calls = work, 0

    def __call__(self, _runtime: Runtime) -> int:
        self.calls += 1
        if self.work:
            self.work -= 1
            return 1
        return 0


def test_the_outbox_is_registered() -> None:
    names = {job.name: job for job in registered_jobs()}
    assert names["comms.outbox"].run is comms_jobs.run
    assert names["comms.outbox"].interval == comms_jobs.POLL_SECONDS


def test_drain_runs_each_job_until_it_is_idle() -> None:
    first, second = Countdown(3), Countdown(0)
    worker = Worker(RUNTIME, [Job("a", first, 1.0), Job("b", second, 1.0)])
    assert worker.drain() == 0
    assert (first.calls, second.calls) == (4, 1)


def test_a_failing_job_is_counted_and_the_others_still_run() -> None:
    def broken(_runtime: Runtime) -> int:
        raise RuntimeError("database down")

    after = Countdown(1)
    worker = Worker(RUNTIME, [Job("broken", broken, 1.0), Job("after", after, 1.0)])
    assert worker.drain() == 1
    assert after.calls == 2


def test_run_forever_repeats_busy_jobs_at_once_waits_when_idle_and_stops_on_request() -> None:
    clock = [0.0]

    class FakeTimeEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock[0] += timeout or 0.0  # waiting moves the fake clock, not the real one
            return self.is_set()

    stop = FakeTimeEvent()
    busy = Countdown(2)
    calls_at: list[float] = []

    def idle(_runtime: Runtime) -> int:
        calls_at.append(clock[0])
        clock[0] += 5.0  # time passes while it works
        if len(calls_at) == 3:
            stop.set()
        return 0

    worker = Worker(
        RUNTIME,
        [Job("busy", busy, 100.0), Job("idle", idle, 5.0)],
        stop=stop,
        now=lambda: clock[0],
    )
    worker.run_forever()
    assert busy.calls == 3  # twice with work (again at once), then idle: waits 100 s
    assert calls_at == [0.0, 10.0, 20.0]  # 5 s of work, then its 5 s interval
    assert stop.is_set()


def test_a_send_group_is_what_the_last_pace_fits_in_the_window() -> None:
    assert comms_jobs.next_group(10, 0.05, 0.25, 50) == 50  # 5 ms an e-mail: 50 fit
    assert comms_jobs.next_group(10, 0.1, 0.25, 50) == 25
    assert comms_jobs.next_group(10, 2.0, 0.25, 50) == 1  # a slow server: one at a time
    assert comms_jobs.next_group(3, 0.0, 0.25, 50) == 50  # too fast to measure: the cap
    assert comms_jobs.next_group(0, 1.0, 0.25, 50) == 50  # nothing sent: nothing learnt


def test_retention_and_the_promise_check_are_registered_daily() -> None:
    """The rendered policy says deletion runs every day (within ``SWEEP_GRACE``): the worker
    runs the retention job at start and then a day after each idle round; the promise check
    looks hourly and checks once a day (its own rule, tested in tests/e2e/test_promises.py)."""
    names = {job.name: job for job in registered_jobs()}
    assert names["retention.daily"].run is retention_jobs.daily
    assert names["retention.daily"].interval == 24 * 3600.0
    grace = add_duration(EPOCH, SWEEP_GRACE) - EPOCH
    assert grace.total_seconds() == names["retention.daily"].interval
    assert names["promises.daily"].run is promise_jobs.daily
    assert names["promises.daily"].interval <= names["retention.daily"].interval
