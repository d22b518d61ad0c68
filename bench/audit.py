"""The audit log under concurrency: audited reads per second at 1, 2, 4 and 8 processes
beside the unchained floor in the same run, on SQLite and PostgreSQL; and the time of
``audit verify`` over N entries.

One *audited read* is what every purpose-scoped read ends with: read a person's row, append
its audit entry (``audit.record``: the keyed link computed on the chain the connection owns,
one INSERT, the head moved by the database) and commit. The *floor* is the same read plus
one unchained log row with the same columns (``bench.people``'s LOG table), committed the
same way. K processes run for the same time over random people, all switching between the
two on a shared clock: every ``SLICE`` seconds all of them are either audited or floor, and
each counts what it completed in each. A machine whose load drifts during the run (another
process, a checkpoint, autovacuum) so weighs on both alike, slice by slice — runs of several
seconds one after the other, as before, moved the ratio by ±0.1 from one run to the next.
The ratio is audited/floor throughput at that K.
Target (issue 18): >= 0.85x the floor at every count.

    .venv/bin/python -m bench.audit [--seconds S] [--people N] [--entries N] [--part P]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench._common import backends, fresh_runtime, header, row
from bench.people import LOG, LOG_INSERT, PLAIN
from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import SystemClock
from safehold.db import make_engine, make_session_factory, transaction
from safehold.runtime import Runtime

ACTOR = Actor("system", "bench")
COUNTS = (1, 2, 4, 8)
CATEGORIES = ["account.email", "account.name"]


SLICE = 0.5  # seconds of one mode before every process switches to the other


def _loop(url: str, key: bytes, ids: list[uuid.UUID], seconds: float, gate: Any, out: Any) -> None:
    """One process: once every process is connected, reads of random people for
    ``seconds`` from the start the parent sets, audited in odd slices and floor in even
    ones; puts how many of each (``[floor, audited]``, by the slice each began in) on
    ``out``."""
    engine = make_engine(make_url(url))
    sessions = make_session_factory(engine, audit_key=key)
    clock, rng, done = SystemClock(), random.Random(), [0, 0]
    read = select(PLAIN)
    with sessions() as session:  # connect (and own a chain) before the clock starts
        audit.record(
            session, actor=ACTOR, action="subject.read", subject_id=None,
            categories=CATEGORIES, purpose="service_provision", outcome="ok", clock=clock,
        )  # fmt: skip
        session.commit()
    barrier, shared_start = gate
    barrier.wait()  # every process connected: the parent sets the start
    barrier.wait()
    start = shared_start.value
    while (now := time.time()) < start + seconds:
        chained = int((now - start) / SLICE) % 2
        sid = rng.choice(ids)
        with transaction(sessions) as session:
            session.execute(read.where(PLAIN.c.id == sid)).one()
            if chained:
                audit.record(
                    session, actor=ACTOR, action="subject.read", subject_id=sid,
                    categories=CATEGORIES, purpose="service_provision", outcome="ok",
                    clock=clock,
                )  # fmt: skip
            else:
                session.connection().execute(LOG_INSERT, {
                    "id": uuid.uuid4(), "at": clock.now(), "actor": "system:bench",
                    "action": "subject.read", "subject_id": sid, "categories": CATEGORIES,
                    "purpose": "service_provision", "outcome": "ok",
                })  # fmt: skip
        done[chained] += 1
    engine.dispose()
    out.put(done)


def _run(url: str, key: bytes, ids: list[uuid.UUID], k: int, s: float) -> tuple[float, float]:
    """Floor and audited reads per second with ``k`` processes over ``s`` seconds."""
    ctx = multiprocessing.get_context("spawn")
    slices = max(2, round(s / SLICE / 2) * 2)  # as many floor slices as audited ones
    gate, out = (ctx.Barrier(k + 1), ctx.Value("d", 0.0)), ctx.Queue()
    workers = [
        ctx.Process(target=_loop, args=(url, key, ids, slices * SLICE, gate, out)) for _ in range(k)
    ]
    for worker in workers:
        worker.start()
    gate[0].wait()
    gate[1].value = time.time() + 0.1
    gate[0].wait()
    counts = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    half = slices * SLICE / 2
    return sum(c[0] for c in counts) / half, sum(c[1] for c in counts) / half


def _people(runtime: Runtime, n: int) -> list[uuid.UUID]:
    PLAIN.metadata.create_all(runtime.engine, tables=[PLAIN, LOG])
    ids = [uuid.uuid4() for _ in range(n)]
    with transaction(runtime.sessions) as session:
        session.execute(PLAIN.insert(), [
            {"id": i, "name": "Bench Person", "email": f"p{n}@example.com", "phone": "+44",
             "street": "1 Example Road", "postal_code": "EX1", "city": "Exampleton",
             "country": "GB"}
            for n, i in enumerate(ids)
        ])  # fmt: skip
    return ids


def throughput(runtime: Runtime, people: int, seconds: float) -> None:
    url = runtime.engine.url.render_as_string(hide_password=False)
    ids = _people(runtime, people)
    key = runtime.audit_key()
    for k in COUNTS:
        floor, chained = _run(url, key, ids, k, seconds)
        ratio = chained / floor
        verdict = "meets" if ratio >= 0.85 else "MISSES"
        row(f"{k} process(es): audited reads/s", f"{chained:,.0f}", f"floor {floor:,.0f}/s",
            f"{ratio:.2f}x ({verdict} 0.85x)")  # fmt: skip
    with runtime.sessions() as session:
        result = audit.verify(session)
    row("the log after the runs", "intact" if result.ok else f"BROKEN {result.broken}",
        f"{result.checked:,} entries")  # fmt: skip


def verify_time(runtime: Runtime, entries: int) -> None:
    clock, batch = SystemClock(), 1_000
    started = time.perf_counter()
    for start in range(0, entries, batch):
        accesses = [
            audit.Access(ACTOR, "events.ingest", uuid.uuid4(), ["usage.action"], None, "ok")
            for _ in range(min(batch, entries - start))
        ]
        with transaction(runtime.sessions) as session:
            audit.record_many(session, accesses, clock=clock)
    written = time.perf_counter() - started
    started = time.perf_counter()
    with runtime.sessions() as session:
        result = audit.verify(session)
    took = time.perf_counter() - started
    assert result.ok, result.broken
    row(f"write {entries:,} entries (batches of {batch})", f"{written:.1f} s",
        f"{entries / written:,.0f} entries/s")  # fmt: skip
    row(f"audit verify, {result.checked:,} entries", f"{took:.1f} s",
        f"{result.checked / took:,.0f} entries/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="per process count, both arms (default 12)"
    )
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--entries", type=int, default=100_000, help="for verify (1M: 1000000)")
    parser.add_argument("--part", choices=("all", "throughput", "verify"), default="all")
    args = parser.parse_args()
    for backend in backends():
        if args.part in ("all", "throughput"):
            header(f"audited reads beside the unchained floor ({backend})")
            with fresh_runtime(backend) as runtime:
                throughput(runtime, args.people, args.seconds)
        if args.part in ("all", "verify"):
            header(f"audit verify ({backend})")
            with fresh_runtime(backend) as runtime:
                verify_time(runtime, args.entries)


if __name__ == "__main__":
    main()
