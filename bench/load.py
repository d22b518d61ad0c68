"""Mixed load on PostgreSQL with two `safehold serve` processes: usage-event ingestion,
purpose-scoped reads, a campaign to everyone and erasures at once, for a fixed time.

First each operation runs alone (the baseline, in the same run), then all of them together;
the table gives throughput and p50/p99 latency per operation and the ratio of the mixed p50
to the solo p50. Afterwards the run checks that nothing acknowledged was lost (events,
messages), that no erased person's data survived (events, personal values, data keys; a
read answers 410), that PostgreSQL counted no deadlock and no request got a 5xx, and that
the audit chain verifies. Ingestion picks people from those being erased too, so batches
race the erasures. Exit code 1 when a check fails.

    .venv/bin/python -m bench.load [--seconds 10] [--people 60]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bench._common import POLICY, free_port, fresh_runtime, postgres_url
from safehold.access import audit
from safehold.access import service as access
from safehold.access.rules import Actor
from safehold.carddata import contains_card_number
from safehold.comms import service as comms
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.events import storage
from safehold.requests import routes as request_routes
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects

ADMIN = Actor("admin", "bench-load")
BATCH = 50  # events per ingestion request
WORKERS = {"ingest": 2, "read": 2, "campaign": 1, "erasure": 1}  # client threads, mixed phase
OPERATIONS = list(WORKERS)


@dataclass
class Op:
    samples: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int) -> None:
        with self.lock:
            self.samples.append(seconds)
            self.statuses[status] += 1

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


@dataclass
class World:
    """What the clients share: keys, people, and what the servers acknowledged."""

    runtime: Runtime
    servers: list[str]
    keys: dict[str, str]
    readable: list[uuid.UUID]  # never erased: read and ingested
    to_erase: list[uuid.UUID]  # erased during the run: ingested too, so batches race
    events: dict[str, str] = field(default_factory=dict)  # acknowledged: event id -> person
    messages: set[str] = field(default_factory=set)
    erased: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)  # -> kept
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_to_erase(self) -> uuid.UUID | None:
        with self.lock:
            return self.to_erase.pop() if self.to_erase else None


@dataclass
class LoadResult:
    solo: dict[str, Op]
    mixed: dict[str, Op]
    seconds: float
    problems: list[str]


def seed(runtime: Runtime, n: int) -> tuple[dict[str, str], list[uuid.UUID]]:
    def key(name: str, scopes: list[str], purposes: list[str]) -> str:
        return access.create_key(
            session, name=name, scopes=scopes, purposes=purposes,
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock, actor=ADMIN,
        ).token  # fmt: skip

    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    people: list[uuid.UUID] = []
    with transaction(runtime.sessions) as session:
        keys = {
            "ingest": key("ingest", ["events:write"], []),
            "read": key("read", ["subjects:read"], ["service_provision"]),
            "campaign": key("campaign", ["messages:send"], ["communication.service"]),
            "erasure": key("erasure", ["requests:write"], []),
        }
        while len(people) < n:
            contact = subject_rules.contact(
                name=f"Load Person{len(people)}",
                email=f"load{len(people)}.{uuid.uuid4().hex[:6]}@example.com",
            )
            sid = subjects.register(
                session, ctx, actor=ADMIN, contact=contact, marketing_opt_in=False,
                policy_version="bench",
            ).id  # fmt: skip
            if not contains_card_number(str(sid)):  # docs/events.md, "Known issues"
                people.append(sid)
    return keys, people


@contextmanager
def two_servers(runtime: Runtime, log: Path) -> Iterator[list[str]]:
    """Two `safehold serve` processes on one database (one after the other: the first one
    publishes the policy's first version)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {
        "SAFEHOLD_DATA_DIR": str(runtime.settings.data_dir),  # the same key file
        "SAFEHOLD_DATABASE_URL": str(runtime.settings.database_url),
        "SAFEHOLD_POLICY": str(POLICY), "SAFEHOLD_LOG_LEVEL": "warning",
        "SAFEHOLD_LOG_FORMAT": "json",
    }  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            with log.open("ab") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "safehold", "serve", "--no-demo", "--no-jobs"],
                        env={**env, "SAFEHOLD_PORT": str(port)},
                        stdout=out,
                        stderr=out,
                    )
                )
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or procs[-1].poll() is not None:
                    raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


def code_for(runtime: Runtime, subject_id: uuid.UUID) -> str:
    """The person's latest verification code, opened from its sealed outbox row (in a real
    deployment it reaches them by e-mail; no worker sends mail during the run)."""
    ctx = request_routes.context(runtime)
    with runtime.sessions() as session:
        item = session.scalars(
            select(OutboxItem).join(Message, OutboxItem.message_id == Message.id)
            .where(OutboxItem.subject_id == subject_id, Message.kind == "account_notice")
            .order_by(Message.created_at.desc()).limit(1)
        ).one()  # fmt: skip
        code = comms.open_secret(session, ctx.comms, item)
    assert code is not None
    return code


def operations(world: World) -> dict[str, Callable[[httpx.Client], int]]:
    everyone = world.readable + world.to_erase

    def ingest(http: httpx.Client) -> int:
        events = [
            {"event_id": str(uuid.uuid4()), "subject_id": str(random.choice(everyone)),
             "name": "channel.play", "properties": {"channel_id": f"ch-{i % 9}"}}
            for i in range(BATCH)
        ]  # fmt: skip
        answer = http.post("/v1/events", json={"events": events}, headers=auth(world, "ingest"))
        if answer.status_code == 202:
            whose = {e["event_id"]: e["subject_id"] for e in events}
            stored = {r["event_id"]: whose[r["event_id"]] for r in answer.json()["results"]
                      if r["status"] in {"accepted", "duplicate"}}  # fmt: skip
            with world.lock:
                world.events.update(stored)
        return answer.status_code

    def read(http: httpx.Client) -> int:
        who = random.choice(world.readable)
        answer = http.get(
            f"/v1/subjects/{who}", params={"purpose": "service_provision"},
            headers=auth(world, "read"),
        )  # fmt: skip
        return answer.status_code

    def campaign(http: httpx.Client) -> int:
        body = {
            "kind": "service_update", "audience": {"all": True},
            "subject": "Planned maintenance", "text": "Dear {{ name }}, a short note.",
        }  # fmt: skip
        answer = http.post("/v1/messages", json=body, headers=auth(world, "campaign"))
        if answer.status_code == 201:
            with world.lock:
                world.messages.add(answer.json()["id"])
        return answer.status_code

    def erasure(http: httpx.Client) -> int:
        who = world.next_to_erase()
        if who is None:
            return 0  # nobody left to erase: not counted
        headers = auth(world, "erasure")
        opened = http.post("/v1/requests", json={"subject_id": str(who), "kind": "erasure"},
                           headers=headers)  # fmt: skip
        if opened.status_code != 201:
            return opened.status_code
        rid = opened.json()["id"]
        code = code_for(world.runtime, who)
        checked = http.post(f"/v1/requests/{rid}/verification", json={"code": code},
                            headers=headers)  # fmt: skip
        if checked.status_code != 200:
            return checked.status_code
        done = http.post(f"/v1/requests/{rid}/erasure", headers=headers, timeout=120)
        if done.status_code == 200:
            kept = {(k["category"], c) for k in done.json()["certificate"]["kept"]
                    for c in k["classes"]}  # fmt: skip
            with world.lock:
                world.erased[who] = kept
        return done.status_code

    return {"ingest": ingest, "read": read, "campaign": campaign, "erasure": erasure}


def auth(world: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[role]}"}


def drive(world: World, workers: dict[str, int], seconds: float) -> dict[str, Op]:
    ops = {name: Op() for name in workers}
    calls = operations(world)
    stop = time.monotonic() + seconds

    def loop(name: str, n: int) -> None:
        clients = [httpx.Client(base_url=url, timeout=60) for url in world.servers]
        try:
            i = 0
            while time.monotonic() < stop:
                began = time.perf_counter()
                status = calls[name](clients[(n + i) % 2])  # alternate between the servers
                if status:
                    ops[name].add(time.perf_counter() - began, status)
                i += 1
        finally:
            for client in clients:
                client.close()

    threads = [
        threading.Thread(target=loop, args=(name, n))
        for name, count in workers.items() for n in range(count)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ops


def check(world: World, mixed: dict[str, Op], solo: dict[str, Op], deadlocks: int) -> list[str]:
    problems: list[str] = []
    for phase, ops in (("solo", solo), ("mixed", mixed)):
        for name, op in ops.items():
            errors = {s: c for s, c in op.statuses.items() if s >= 500}
            if errors:
                problems.append(f"{phase} {name}: server errors {errors}")
    if deadlocks:
        problems.append(f"PostgreSQL counted {deadlocks} deadlock(s) during the run")
    if not world.erased:
        problems.append("no erasure completed: the run was too short to race anything")
    erased = list(world.erased)
    with world.runtime.sessions() as session:
        stored = set(map(str, session.scalars(select(storage.EVENTS.c.event_id))))
        survivors = session.scalar(
            select(func.count()).select_from(storage.EVENTS)
            .where(storage.EVENTS.c.subject_id.in_(erased))
        )  # fmt: skip
        found = set(map(str, session.scalars(select(Message.id))))
        values_left = session.execute(
            text("SELECT subject_id, category, retention_class FROM personal_values "
                 "WHERE subject_id = ANY(:ids)"), {"ids": erased},
        ).all()  # fmt: skip
        keys_left = session.execute(
            text("SELECT subject_id, retention_class FROM data_keys WHERE subject_id = ANY(:ids)"),
            {"ids": erased},
        ).all()
        chain = audit.verify(session)
    gone = {str(who) for who in world.erased}  # an erased person's events go, on purpose
    lost = [e for e, who in world.events.items() if e not in stored and who not in gone]
    if lost:
        problems.append(f"{len(lost)} acknowledged event(s) lost")
    if survivors:
        problems.append(f"{survivors} event(s) of erased people survived")
    # What an erasure keeps is exactly what its certificate lists (retention exceptions that
    # survive erasure, such as invoice records; legal holds): anything else is a residue.
    residue = [
        v for v in values_left if (v.category, v.retention_class) not in world.erased[v.subject_id]
    ]
    classes = {who: {c for _, c in kept} for who, kept in world.erased.items()}
    residue += [k for k in keys_left if k.retention_class not in classes[k.subject_id]]
    if residue:
        problems.append(f"{len(residue)} value(s) or data key(s) of erased people not kept "
                        "by their certificate survived")  # fmt: skip
    if missing := world.messages - found:
        problems.append(f"{len(missing)} acknowledged campaign(s) lost")
    if not chain.ok:
        problems.append(f"audit chain broken: {chain.broken}")
    return problems


def erased_reads(world: World) -> list[str]:
    problems = []
    with httpx.Client(base_url=world.servers[0], timeout=30) as http:
        for who in list(world.erased)[:20]:
            answer = http.get(f"/v1/subjects/{who}", params={"purpose": "service_provision"},
                              headers=auth(world, "read"))  # fmt: skip
            if answer.status_code != 410:
                problems.append(f"a read of an erased person answered {answer.status_code}")
    return problems


def deadlock_count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        found = conn.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar()
    return int(found or 0)


def run(seconds: float, people: int) -> LoadResult:
    """The whole benchmark on a scratch PostgreSQL database; also used by tests/faults."""
    with fresh_runtime("postgresql") as runtime, tempfile.TemporaryDirectory() as tmp:
        keys, ids = seed(runtime, people)
        split = len(ids) // 2
        with two_servers(runtime, Path(tmp) / "serve.log") as servers:
            world = World(runtime, servers, keys, ids[:split], ids[split:])
            before = deadlock_count(runtime)
            solo_each = max(1.0, seconds / 4)
            solo = {name: drive(world, {name: 1}, solo_each)[name] for name in OPERATIONS}
            mixed = drive(world, WORKERS, seconds)
            time.sleep(1.0)  # pg_stat_database is updated by the server's stats collector
            problems = check(world, mixed, solo, deadlock_count(runtime) - before)
            problems += erased_reads(world)
            log = (Path(tmp) / "serve.log").read_text()
        if "unhandled_error" in log or "deadlock detected" in log:
            problems.append("the servers logged an unhandled error or a deadlock")
    return LoadResult(solo, mixed, seconds, problems)


def report(result: LoadResult) -> None:
    print(f"\nMixed load, PostgreSQL, 2 server processes, {result.seconds:g} s "
          f"(threads: {', '.join(f'{n} {k}' for k, n in WORKERS.items())})")  # fmt: skip
    print(f"  {'operation':<12} {'count':>7} {'per s':>8} {'p50 ms':>9} {'p99 ms':>9} "
          f"{'alone p50':>10} {'ratio':>7}")  # fmt: skip
    for name in OPERATIONS:
        op, alone = result.mixed[name], result.solo[name]
        p50, solo50 = op.quantile(0.5), alone.quantile(0.5)
        ratio = f"{p50 / solo50:.2f}x" if solo50 else "-"
        print(f"  {name:<12} {len(op.samples):>7} {len(op.samples) / result.seconds:>8.1f} "
              f"{p50 * 1000:>9.1f} {op.quantile(0.99) * 1000:>9.1f} {solo50 * 1000:>10.1f} "
              f"{ratio:>7}")  # fmt: skip
    statuses = Counter[int]()
    for op in result.mixed.values():
        statuses.update(op.statuses)
    print(
        "  answers by status (mixed): "
        + ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items()))
    )
    print("  checks: " + ("all passed" if not result.problems else "FAILED"))
    for problem in result.problems:
        print(f"    - {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="mixed phase length")
    parser.add_argument("--people", type=int, default=100, help="half read, half erased")
    args = parser.parse_args()
    if postgres_url() is None:
        print("bench/load needs PostgreSQL: set SAFEHOLD_BENCH_POSTGRES_URL or "
              "SAFEHOLD_TEST_POSTGRES_URL (skipped)")  # fmt: skip
        return 0
    result = run(args.seconds, args.people)
    report(result)
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
