"""Analytics: a month's k-anonymous reports read from the roll-ups, beside the plain
``GROUP BY`` over the raw events table that answers the same question, in the same run and
database; also what building the roll-ups cost.

The issue asks for 10M events; the default here is 1M (generating and inserting 10M rows
takes long on SQLite): pass ``--events 10000000`` for the full size.

    .venv/bin/python -m bench.analytics [--events N] [--people N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import distinct, func, select

from bench._common import Timing, backends, fresh_runtime, header, row, timed
from safehold.access.rules import Actor
from safehold.analytics import jobs, reports, service
from safehold.db import transaction
from safehold.events import storage
from safehold.runtime import Runtime
from safehold.subjects.models import Subject

ACTOR = Actor("system", "bench")
MONTH = date(2026, 1, 1)
NAMES = ("channel.play", "guide.browse", "vod.play", "app.open", "app.error", "guide.search")
PLATFORMS = [
    (d, o, str(om), b, str(bm))
    for d, o, b in (
        ("smart_tv", "Tizen", "Samsung Internet"),
        ("smart_tv", "webOS", "LG Browser"),
        ("set_top_box", "Android", "TiviMate"),
        ("smartphone", "iOS", "Mobile Safari"),
        ("smartphone", "Android", "Chrome Mobile"),
        ("desktop", "Windows", "Chrome"),
    )
    for om in range(5, 9)
    for bm in range(1, 4)
]
CHUNK = 50_000


def fill(runtime: Runtime, events: int, people: int) -> None:
    rng = random.Random(7)
    ids = [uuid.uuid4() for _ in range(people)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(runtime.sessions) as session:
        session.add_all(
            Subject(id=i, status="active", policy_version_shown="v1", created_at=start,
                    last_activity_at=start, closed_at=None, erased_at=None)
            for i in ids
        )  # fmt: skip
        storage.ensure_months(session, [MONTH], start)
    for offset in range(0, events, CHUNK):
        rows = []
        for _ in range(min(CHUNK, events - offset)):
            at = start + timedelta(seconds=rng.randrange(31 * 86_400))
            device, os, om, browser, bm = rng.choice(PLATFORMS)
            rows.append({
                "event_id": uuid.uuid4(), "occurred_at": at, "client_time": at,
                "received_at": at, "subject_id": rng.choice(ids), "anonymous_index": None,
                "name": rng.choice(NAMES), "category": "usage.action", "properties": {},
                "personal": None, "retention_class": None, "device_type": device,
                "os_family": os, "os_major": om, "browser_family": browser,
                "browser_major": bm, "is_bot": False, "ip": None,
            })  # fmt: skip
        with transaction(runtime.sessions) as session:
            storage.insert_rows(session, rows)


def plain_group_by(runtime: Runtime) -> None:
    e = storage.EVENTS
    lo, hi = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    with runtime.sessions() as session:
        session.execute(
            select(e.c.name, func.count(), func.count(distinct(e.c.subject_id)))
            .where(e.c.occurred_at >= lo, e.c.occurred_at < hi)
            .group_by(e.c.name)
        ).all()


def report(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        reports.table(
            session, k=runtime.policy.analytics.k_anonymity, kind="features", month=MONTH,
            actor=ACTOR, clock=runtime.clock,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for backend in backends():
        with fresh_runtime(backend) as runtime:
            t0 = time.perf_counter()
            fill(runtime, args.events, args.people)
            filled = time.perf_counter() - t0
            t0 = time.perf_counter()
            with transaction(runtime.sessions) as session:
                ctx = jobs.context(runtime)
                ctx = service.Context(ctx.policy, _Later(), ctx.person_key)
                service.build_days(session, ctx, [MONTH + timedelta(days=i) for i in range(31)])
            built = time.perf_counter() - t0
            ours = timed(lambda _: report(runtime), args.repeat)
            plain = timed(lambda _: plain_group_by(runtime), args.repeat)
            header(f"{backend}: {args.events:,} events, {args.people:,} people, one month")
            row("insert the raw events (setup)", f"{filled:.1f} s")
            row("build the month's roll-ups (job)", f"{built:.1f} s")
            row(
                "actions per feature, month (median)", _ms(ours), _ms(plain),
                f"{ours.median / plain.median:.3f}",
            )  # fmt: skip


class _Later:
    """A clock after the month, so its days are built final."""

    def now(self) -> datetime:
        return datetime(2026, 2, 3, tzinfo=UTC)


def _ms(t: Timing) -> str:
    return f"{t.median * 1000:.1f} ms"


if __name__ == "__main__":
    main()
