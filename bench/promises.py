"""`safehold promises check` cost: each check's time on a filled database, beside the time to
read every row of every table once (the floor any check over the whole database pays),
measured in the same run, on SQLite and PostgreSQL (SAFEHOLD_BENCH_POSTGRES_URL or
SAFEHOLD_TEST_POSTGRES_URL; a scratch database each).

    .venv/bin/python -m bench.promises [--events N] [--people N]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench._common import backends, fresh_runtime, row
from bench.erasure import fill_events, new_person
from safehold.db import reading_only
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.logs import configure_logging
from safehold.models import Base
from safehold.notices.book import PolicyBook
from safehold.promises import service
from safehold.promises.rules import Context
from safehold.runtime import Runtime


def _read_everything(runtime: Runtime) -> float:
    """Every row of every table read once (a count would let the database skip the rows)."""
    started = time.perf_counter()
    with runtime.sessions() as session:
        reading_only(session)
        tables = list(Base.metadata.sorted_tables) + [
            storage.month_table(event_rules.partition_name(m)) for m in storage.months(session)
        ]
        for table in tables:
            rows = session.execute(select(table).execution_options(yield_per=2000))
            for _ in rows:
                pass
            rows.close()
    return time.perf_counter() - started


def _each_check(runtime: Runtime) -> dict[str, float]:
    seconds: dict[str, float] = {}
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        reading_only(session)
        book = PolicyBook(runtime.policy)
        book.load(session)
        ctx = Context(session, runtime.policy, now, book)
        for check in service.CHECKS:
            started = time.perf_counter()
            finding = check.run(ctx)
            seconds[check.id] = time.perf_counter() - started
            assert finding.count == 0, (check.id, finding)  # the bench data keeps every promise
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000)
    args = parser.parse_args()
    configure_logging("json", "warning")
    start = datetime.now(UTC) - timedelta(days=300)
    for backend in backends():
        with fresh_runtime(backend) as runtime:
            who = [new_person(runtime, f"p{i}-{uuid.uuid4().hex[:6]}") for i in range(args.people)]
            fill_events(runtime, None, args.events, start=start, days=290, people=who)
            with runtime.sessions() as session:
                stored = sum(
                    session.scalar(select(func.count()).select_from(t)) or 0
                    for t in Base.metadata.sorted_tables
                )
            floor = min(_read_everything(runtime) for _ in range(2))
            checks = _each_check(runtime)
        total = sum(checks.values())
        print(
            f"\npromises check, {args.people:,} people, {args.events:,} events "
            f"(+{stored:,} other rows), {backend}"
        )
        row("", "seconds", "read floor", "ratio")
        row("read every row of every table once", f"{floor:.2f}", f"{floor:.2f}", "1.00x")
        for check_id, seconds in sorted(checks.items(), key=lambda kv: -kv[1]):
            row(check_id, f"{seconds:.3f}", "", f"{seconds / floor:.2f}x")
        row("all checks", f"{total:.2f}", f"{floor:.2f}", f"{total / floor:.2f}x")


if __name__ == "__main__":
    main()
