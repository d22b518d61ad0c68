"""People in the vault: registration throughput and purpose-scoped read latency, in-process
and over HTTP, each beside the same operation on a plaintext table in the same database and
the same run; and the time to crypto-shred one person as their data grows.

Targets (issue 3): a purpose-scoped read costs at most 2x the plaintext baseline; shredding
one person takes at most 10 ms however much data they have.

In-process it also prints the floor of any audited read on that database: the plaintext read
plus one log row written and committed in the same transaction (no encryption, no chain). A
write's commit is what separates the two baselines: on PostgreSQL it waits for the WAL to be
flushed to disk (synchronous_commit), which no audited read can skip.

    .venv/bin/python -m bench.people [--people N] [--reads N]
"""

from __future__ import annotations

import argparse
import uuid
from typing import Annotated

import httpx
from fastapi import Depends
from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.orm import Session

from bench._common import Timing, backends, fresh_runtime, header, row, served, timed
from safehold.access import service as keys
from safehold.access.models import ApiKey
from safehold.access.rules import Actor
from safehold.app import create_app
from safehold.db import transaction
from safehold.deps import SessionDep, require_scope
from safehold.logs import configure_logging
from safehold.runtime import Runtime
from safehold.subjects import rules, service
from safehold.subjects.models import PersonalValue
from safehold.subjects.schemas import RegisterIn

ACTOR = Actor("system", "bench")
PLAIN = Table(
    "bench_plain_people",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    *(
        Column(name, String(255))
        for name in ("name", "email", "phone", "street", "postal_code", "city", "country")
    ),
)
LOG = Table(  # the floor's log row: an audit entry's columns, no chain
    "bench_plain_log",
    PLAIN.metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", DateTime(timezone=True)),
    Column("actor", String(120)),
    Column("action", String(80)),
    Column("subject_id", Uuid, index=True),
    Column("categories", JSON),
    Column("purpose", String(80)),
    Column("outcome", String(40)),
)
LOG_INSERT = insert(LOG)  # built once; Core on the session's connection: the cheapest write
SHRED_SIZES = (10, 1_000, 100_000)
Writer = Annotated[ApiKey, Depends(require_scope("subjects:write"))]
Reader = Annotated[ApiKey, Depends(require_scope("subjects:read"))]


def person(i: int) -> dict[str, object]:
    return {
        "name": f"Bench Person{i}",
        "email": f"bench.person{i}.{uuid.uuid4().hex[:6]}@example.com",
        "phone": f"+44 20 7946 0{i % 1000:03d}",
        "address": {
            "street": f"{i} Example Road",
            "postal_code": "EX1 2MP",
            "city": "Exampleton",
            "country": "GB",
        },
        "marketing_opt_in": bool(i % 2),
    }


def contact_of(p: dict[str, object]) -> rules.Contact:
    address = p["address"]
    assert isinstance(address, dict)
    return rules.contact(
        name=str(p["name"]), email=str(p["email"]), phone=str(p["phone"]), address=address
    )


def plain_values(c: rules.Contact) -> dict[str, object]:
    f = c.fields
    return {
        "id": uuid.uuid4(),
        "name": f[rules.NAME]["full_name"],
        "email": c.email,
        "phone": c.phone,
        **f[rules.ADDRESS],
    }


def in_process(runtime: Runtime, people: int, reads: int) -> None:
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock)
    ids: list[uuid.UUID] = []
    plain_ids: list[uuid.UUID] = []

    def register(i: int) -> None:
        with transaction(runtime.sessions) as s:
            ids.append(
                service.register(
                    s,
                    ctx,
                    actor=ACTOR,
                    contact=contact_of(person(i)),
                    marketing_opt_in=True,
                    policy_version="bench",
                ).id
            )

    def register_plain(i: int) -> None:
        values = plain_values(contact_of(person(i)))
        with transaction(runtime.sessions) as s:
            s.execute(insert(PLAIN).values(**values))
        plain_ids.append(values["id"])  # type: ignore[arg-type]

    def read(i: int) -> None:
        with transaction(runtime.sessions) as s:
            service.read(s, ctx, ids[i % len(ids)], purpose="service_provision", actor=ACTOR)

    def read_plain(i: int) -> None:
        with transaction(runtime.sessions) as s:
            s.execute(select(PLAIN).where(PLAIN.c.id == plain_ids[i % len(plain_ids)])).one()

    def read_floor(i: int) -> None:
        pid = plain_ids[i % len(plain_ids)]
        with transaction(runtime.sessions) as s:
            s.execute(select(PLAIN).where(PLAIN.c.id == pid)).one()
            s.connection().execute(
                LOG_INSERT,
                {
                    "id": uuid.uuid4(), "at": runtime.clock.now(), "actor": str(ACTOR),
                    "action": "subject.read", "subject_id": pid, "purpose": "service_provision",
                    "categories": list(rules.SUBJECT_CATEGORIES), "outcome": "allowed",
                },
            )  # fmt: skip

    reg, reg_plain = timed(register, people), timed(register_plain, people)
    # Interleaved rounds, so a slow spell of the machine (another process, a checkpoint,
    # autovacuum) falls on every series alike rather than on one of them.
    rounds = [
        (timed(read, reads // 4), timed(read_plain, reads // 4), timed(read_floor, reads // 4))
        for _ in range(4)
    ]
    read_t, plain_t, floor_t = (Timing([x for r in rounds for x in r[k].samples]) for k in range(3))
    report("in-process", reg, reg_plain, read_t, plain_t)
    row(
        "floor: plaintext read + 1 log row, median ms",
        f"{read_t.median * 1e3:.3f}",
        f"{floor_t.median * 1e3:.3f}",
        f"{read_t.median / floor_t.median:.2f}x",
    )
    print(
        f"  the floor (a committed write) alone is {floor_t.median / plain_t.median:.2f}x "
        "the plaintext read"
    )


def over_http(runtime: Runtime, people: int, reads: int) -> None:
    app = create_app(runtime)

    @app.post("/bench/plain", status_code=201)
    def plain_register(body: RegisterIn, session: SessionDep, _k: Writer) -> dict[str, str]:
        values = plain_values(contact_of(body.model_dump()))
        session.execute(insert(PLAIN).values(**values))
        session.commit()
        return {"id": str(values["id"])}

    @app.get("/bench/plain/{pid}")
    def plain_read(pid: uuid.UUID, session: SessionDep, _k: Reader) -> dict[str, object]:
        found = session.execute(select(PLAIN).where(PLAIN.c.id == pid)).one()
        return {k: str(v) for k, v in found._mapping.items()}

    with runtime.sessions() as s:
        token = keys.create_key(
            s,
            name="bench",
            scopes=["subjects:read", "subjects:write"],
            purposes=["*"],
            known_purposes=runtime.policy.purpose_ids,
            clock=runtime.clock,
            actor=ACTOR,
        ).token
        s.commit()
    with (
        served(app) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        ids: list[str] = []
        plain_ids: list[str] = []
        reg = timed(
            lambda i: ids.append(client.post("/v1/subjects", json=person(i)).json()["id"]), people
        )
        reg_plain = timed(
            lambda i: plain_ids.append(client.post("/bench/plain", json=person(i)).json()["id"]),
            people,
        )
        read = timed(
            lambda i: client.get(
                f"/v1/subjects/{ids[i % len(ids)]}", params={"purpose": "service_provision"}
            ).raise_for_status(),
            reads,
        )
        read_plain = timed(
            lambda i: client.get(
                f"/bench/plain/{plain_ids[i % len(plain_ids)]}"
            ).raise_for_status(),
            reads,
        )
    report("HTTP (uvicorn, loopback)", reg, reg_plain, read, read_plain)


def report(where: str, reg: Timing, reg_p: Timing, read: Timing, read_p: Timing) -> None:
    header(f" {where}")
    row(
        "registration, people/s",
        f"{reg.per_second:,.0f}",
        f"{reg_p.per_second:,.0f}",
        f"{reg_p.per_second / reg.per_second:.2f}x",
    )
    row(
        "purpose-scoped read, median ms",
        f"{read.median * 1e3:.3f}",
        f"{read_p.median * 1e3:.3f}",
        f"{read.median / read_p.median:.2f}x",
    )
    row(
        "purpose-scoped read, p99 ms",
        f"{read.p99 * 1e3:.3f}",
        f"{read_p.p99 * 1e3:.3f}",
        f"{read.p99 / read_p.p99:.2f}x",
    )
    verdict = "meets" if read.median / read_p.median <= 2 else "MISSES"
    print(f"  read overhead (encryption + decision + audit) {verdict} the 2x target")


def shredding(runtime: Runtime) -> None:
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock)
    header(" crypto-shredding one person (all their data keys)")
    for size in SHRED_SIZES:
        samples = []
        for attempt in range(3):
            with transaction(runtime.sessions) as s:
                sid = service.register(
                    s,
                    ctx,
                    actor=ACTOR,
                    contact=contact_of(person(attempt)),
                    marketing_opt_in=False,
                    policy_version="bench",
                ).id
                fill(s, runtime, sid, size)
            samples.append(timed(lambda _i, sid=sid: shred(runtime, sid), 1).samples[0])
        median = sorted(samples)[1]
        verdict = "ok" if median <= 0.010 else "OVER 10 ms"
        row(f"{size:>7,} encrypted values, ms", f"{median * 1e3:.3f}", "", verdict)


def fill(session: Session, runtime: Runtime, sid: uuid.UUID, size: int) -> None:
    """Give the person ``size`` encrypted values (synthetic fields of account.name)."""
    klass = runtime.policy.retention_class(rules.NAME, "full_name")
    blob = runtime.vault.encrypt(session, sid, klass, rules.NAME, "bulk", "x" * 40)
    now = runtime.clock.now()
    session.execute(
        insert(PersonalValue),
        [
            {
                "subject_id": sid,
                "category": rules.NAME,
                "field": f"bulk{i}",
                "retention_class": klass,
                "ciphertext": blob,
                "updated_at": now,
                "updated_by": "bench",
            }
            for i in range(size)
        ],
    )


def shred(runtime: Runtime, sid: uuid.UUID) -> None:
    with transaction(runtime.sessions) as s:
        runtime.vault.shred(s, sid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--reads", type=int, default=1000)
    args = parser.parse_args()
    configure_logging("json", "warning")  # the access log would time the terminal
    for backend in backends():
        print(f"\n=== people in the vault — {backend} ===")
        with fresh_runtime(backend) as runtime:
            PLAIN.metadata.create_all(runtime.engine)
            in_process(runtime, args.people, args.reads)
            over_http(runtime, args.people, args.reads)
            shredding(runtime)


if __name__ == "__main__":
    main()
