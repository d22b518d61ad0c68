"""Retention sweep throughput: events purged per second by the retention run (expired months
dropped whole), beside a plain ``DELETE … WHERE occurred_at < cutoff`` on an identical copy
of the data in the same run, on SQLite and PostgreSQL (SAFEHOLD_BENCH_POSTGRES_URL or
SAFEHOLD_TEST_POSTGRES_URL; a scratch database each).

Three copies per backend: the run with the analytics roll-up the worker feeds before each
``aggregate_then_delete`` month goes (what production does), the run with a no-op roll-up
(the deletion alone), and the plain DELETE.

    .venv/bin/python -m bench.retention [--events N] [--people N]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bench._common import backends, fresh_runtime, row
from bench.erasure import fill_events, new_person
from safehold.analytics import jobs as analytics_jobs
from safehold.db import transaction
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.logs import configure_logging
from safehold.retention import jobs
from safehold.runtime import Runtime

PERIOD = "P13M"  # usage_events in the default policy


def _fill(runtime: Runtime, events: int, people: int, start: datetime) -> None:
    who = [new_person(runtime, f"r{i}-{uuid.uuid4().hex[:6]}") for i in range(people)]
    fill_events(runtime, None, events, start=start, days=360, people=who)


def _no_rollup(_session: Session, _month: date) -> None:
    """A roll-up hook that aggregates nothing: the run's deletion cost alone."""


def _run(runtime: Runtime, rollup: bool) -> tuple[float, int]:
    hook = analytics_jobs.before_drop(runtime) if rollup else _no_rollup
    started = time.perf_counter()
    report = jobs.run(runtime, before_drop=hook)
    seconds = time.perf_counter() - started
    purged = sum(x.deleted for x in report.lines.values() if x.retention_class == "usage_events")
    return seconds, purged


def _plain_delete(runtime: Runtime) -> tuple[float, int]:
    cutoff = event_rules.retention_cutoff(datetime.now(UTC), PERIOD)
    started = time.perf_counter()
    with transaction(runtime.sessions) as session:
        purged = storage.for_each_month(
            session, lambda t: delete(t).where(t.c.occurred_at < cutoff)
        )
    return time.perf_counter() - started, purged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=100)
    args = parser.parse_args()
    configure_logging("json", "warning")
    start = datetime.now(UTC) - timedelta(days=4 * 365)  # a year of events, all expired
    for backend in backends():
        figures: dict[str, tuple[float, int]] = {}
        for name in ("run + roll-up", "run", "plain DELETE"):
            with fresh_runtime(backend) as runtime:
                _fill(runtime, args.events, args.people, start)
                if name == "plain DELETE":
                    figures[name] = _plain_delete(runtime)
                else:
                    figures[name] = _run(runtime, rollup=name == "run + roll-up")
        print(
            f"\nretention sweep, {args.events:,} expired events of {args.people} people, {backend}"
        )
        row("", "seconds", "events/s", "vs DELETE")
        base = figures["plain DELETE"][0]
        for name, (seconds, purged) in figures.items():
            assert purged == args.events, (name, purged)
            row(name, f"{seconds:.2f}", f"{purged / seconds:,.0f}", f"{base / seconds:.2f}x")


if __name__ == "__main__":
    main()
