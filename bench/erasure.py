"""Erasure: the time to make a person unreadable (the shred step: their data keys destroyed)
and the time to erase them fully (every step of the job, deleting their events included), for
people with 1k, 10k, 100k and 1M events. Shredding must stay flat: its ratio against the
smallest person stays near 1 however many events there are, while full erasure grows.

    .venv/bin/python -m bench.erasure [--max-events N] [--backend sqlite|postgresql]

Also home of :func:`fill_events` (a person's events written straight to storage, a tenth of
them with encrypted personal properties), shared by bench.export and bench.retention.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._common import backends, fresh_runtime, header, row
from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.db import transaction
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.service import PERSONAL_FIELD
from safehold.logs import configure_logging
from safehold.requests import jobs, service
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects

ACTOR = Actor("system", "bench")
SIZES = (1_000, 10_000, 100_000, 1_000_000)
CHUNK = 20_000  # events per transaction while filling
CATEGORY = "usage.action"


def new_person(runtime: Runtime, tag: str) -> uuid.UUID:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        contact = subject_rules.contact(name=f"Bench {tag}", email=f"{tag}@example.com")
        return subjects.register(
            session, ctx, actor=ACTOR, contact=contact, marketing_opt_in=True,
            policy_version="bench",
        ).id  # fmt: skip


def fill_events(
    runtime: Runtime, sid: uuid.UUID | None, n: int, *, start: datetime, days: int = 330,
    people: list[uuid.UUID] | None = None,
) -> None:  # fmt: skip
    """``n`` events from ``start`` over ``days``, for ``sid`` (or round-robin ``people``),
    in transactions of :data:`CHUNK`; every tenth carries an encrypted search query."""
    who = people or ([sid] if sid is not None else [])
    klass = runtime.policy.retention_class(CATEGORY, PERSONAL_FIELD)
    step = timedelta(days=days) / max(n, 1)
    for base in range(0, n, CHUNK):
        rows: list[dict[str, Any]] = []
        with transaction(runtime.sessions) as session:
            times = [start + step * i for i in range(base, min(n, base + CHUNK))]
            storage.ensure_months(session, {event_rules.month_start(t) for t in times}, start)
            for i, at in enumerate(times, start=base):
                person = who[i % len(who)]
                personal = None
                if i % 10 == 0:
                    personal = runtime.vault.encrypt(
                        session, person, klass, CATEGORY, PERSONAL_FIELD, f'{{"query":"q{i}"}}'
                    )
                rows.append({
                    "event_id": uuid.uuid4(), "occurred_at": at, "client_time": None,
                    "received_at": at, "subject_id": person, "anonymous_index": None,
                    "name": "guide.search" if personal else "channel.play", "category": CATEGORY,
                    "properties": {"results": i % 7} if personal else {"quality": "hd"},
                    "personal": personal, "retention_class": klass if personal else None,
                    "device_type": "tv", "os_family": "Android", "os_major": "13",
                    "browser_family": None, "browser_major": None, "is_bot": False, "ip": None,
                })  # fmt: skip
            storage.insert_rows(session, rows)


def _verified_erasure(runtime: Runtime, sid: uuid.UUID) -> tuple[service.Context, uuid.UUID]:
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx, actor=ACTOR, subject_id=sid, kind="erasure", channel="api",
            made_by="subject", send=False,
        )  # fmt: skip
        service.verify_signed_in(session, ctx, request, actor=ACTOR)
        return ctx, request.id


def measure(runtime: Runtime, events: int) -> tuple[float, float, int]:
    """(shred seconds, full erasure seconds, events deleted) for one person."""
    sid = new_person(runtime, f"p{events}-{uuid.uuid4().hex[:6]}")
    fill_events(runtime, sid, events, start=datetime.now(UTC) - timedelta(days=340))
    ctx, rid = _verified_erasure(runtime, sid)
    marks: dict[str, float] = {}
    started = time.perf_counter()
    cert = jobs.erase(
        runtime.sessions, ctx, rid, after_step=lambda s: marks.update({s: time.perf_counter()})
    )
    total = time.perf_counter() - started
    shred = marks["shred"] - marks["suppress_address"]
    assert cert["verification"]["ok"], cert["verification"]
    return shred, total, int(cert["erased"]["events_deleted"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-events", type=int, default=SIZES[-1])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    configure_logging("json", "warning")
    sizes = [s for s in SIZES if s <= args.max_events] or [args.max_events]
    for backend in [args.backend] if args.backend else backends():
        with fresh_runtime(backend) as runtime:
            header(f"erasure of one person, {backend}")
            row("", "shred (ms)", "full (s)", "shred/1st")
            first: float | None = None
            for size in sizes:
                shred, total, deleted = measure(runtime, size)
                assert deleted == size, (deleted, size)
                first = first or shred
                row(f"{size:,} events", f"{shred * 1000:.2f}", f"{total:.2f}",
                    f"{shred / first:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
