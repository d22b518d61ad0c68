"""Backups: ``safehold backup create`` and ``backup restore`` beside the plain tools on the
same database in the same run (SQLite: the ``sqlite3`` shell's ``.backup``/``.restore``;
PostgreSQL: ``pg_dump -Fc`` and ``pg_restore``), and the time to replay 1,000 erasures from
the erasure ledger into a restored copy. Target (issue 22): backup and restore <= 1.3x.

What ours adds to the plain copy: the manifest's facts (read in the same snapshot), the
file's SHA-256, and on restore the migration check, the audit entry, the ledger comparison
and the replay. The database is real Safehold data: people with encrypted contact details
under their own data keys, and usage events (a tenth with encrypted properties).

    .venv/bin/python -m bench.backup [--people N] [--events N] [--erasures N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from bench._common import backends, fresh_runtime, postgres_url
from bench.erasure import fill_events
from safehold.backup import archive, restore
from safehold.backup.archive import libpq
from safehold.backup.ledger import Ledger, new_entry
from safehold.db import make_engine, make_session_factory, transaction
from safehold.logs import configure_logging
from safehold.runtime import Runtime
from safehold.subjects.models import EmailLookup, PersonalValue, Subject
from safehold.vault import rules as vault_rules
from safehold.vault.models import DataKey

CHUNK = 5_000  # people per transaction while filling
FIELDS = (("account.name", "name"), ("account.email", "address"), ("account.phone", "number"))
CONTACT_CLASS = "account_contact"


def fill_people(runtime: Runtime, n: int) -> list[uuid.UUID]:
    """``n`` people, each with a wrapped data key and three encrypted contact fields."""
    provider, now, ids = runtime.vault.provider, datetime.now(UTC), []
    version = provider.current_version()
    for base in range(0, n, CHUNK):
        subjects, keys, values = [], [], []
        for i in range(base, min(n, base + CHUNK)):
            sid = uuid.uuid4()
            ids.append(sid)
            dek = vault_rules.new_key()
            wrapped = provider.wrap(version, dek, vault_rules.key_aad(sid, CONTACT_CLASS))
            subjects.append({
                "id": sid, "status": "active", "email_index": runtime.vault.email_index(
                    f"p{i}@example.com"), "phone_index": None, "policy_version_shown": "bench",
                "created_at": now, "last_activity_at": now, "closed_at": None, "erased_at": None,
            })  # fmt: skip
            keys.append({
                "subject_id": sid, "retention_class": CONTACT_CLASS, "kek_version": version,
                "wrapped_key": wrapped, "created_at": now,
            })  # fmt: skip
            for category, field in FIELDS:
                blob = vault_rules.encrypt_field(
                    dek, f"{field} of bench person {i}".encode(), subject_id=sid,
                    category=category, field=field,
                )  # fmt: skip
                values.append({"subject_id": sid, "category": category, "field": field,
                               "retention_class": CONTACT_CLASS, "ciphertext": blob,
                               "updated_at": now, "updated_by": "operator:bench"})  # fmt: skip
        with transaction(runtime.sessions) as session:
            session.execute(insert(Subject), subjects)
            session.execute(
                insert(EmailLookup),
                [{"email_index": s["email_index"], "subject_id": s["id"]} for s in subjects],
            )
            session.execute(insert(DataKey), keys)
            session.execute(insert(PersonalValue), values)
    return ids


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(command, check=True, env=env, capture_output=True)  # noqa: S603


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(make_url(f"sqlite+pysqlite:///{folder}/{uuid.uuid4().hex}.db"))
        yield engine
        engine.dispose()
        return
    base = make_url(str(postgres_url())).set(drivername="postgresql+psycopg")
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    name = f"safehold_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def plain_backup(engine: Engine, target: Path) -> None:
    if engine.dialect.name == "sqlite":
        run(["sqlite3", str(engine.url.database), f".backup '{target}'"])
    else:
        conninfo, env = libpq(engine.url)
        run(["pg_dump", "--format=custom", f"--file={target}", f"--dbname={conninfo}"], env)


def plain_restore(source: Path, engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        run(["sqlite3", str(engine.url.database), f".restore '{source}'"])
    else:
        conninfo, env = libpq(engine.url)
        run(["pg_restore", "--no-owner", "--no-privileges", f"--dbname={conninfo}", str(source)],
            env)  # fmt: skip


def ours_restore(backup: archive.Backup, engine: Engine, runtime: Runtime, ledger: Ledger) -> Any:
    restore.load_database(backup, engine)
    return restore.bring_up_to_ledger(
        backup, engine, make_session_factory(engine, audit_key=runtime.audit_key()),
        ledger=ledger, policy=runtime.policy, clock=runtime.clock, audit_key=runtime.audit_key(),
    )  # fmt: skip


def line(label: str, ours: float, plain: float) -> None:
    print(f"  {label:<34} {ours:>9.2f} s {plain:>9.2f} s {ours / plain:>8.2f}x")


def bench(backend: str, people: int, events: int, erasures: int) -> None:
    with fresh_runtime(backend) as runtime, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        ids = fill_people(runtime, people)
        fill_events(runtime, None, events, start=datetime.now(UTC) - timedelta(days=60),
                    days=50, people=ids[: max(1, people // 10)])  # fmt: skip
        print(f"\n{backend}: {people:,} people, {events:,} events "
              f"(filled in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        print(f"  {'':<34} {'safehold':>11} {'plain':>11} {'ratio':>9}")
        empty = Ledger(folder / "empty-ledger.jsonl")
        made: list[archive.Backup] = []
        plain_file = folder / "plain.db"

        def ours_backup() -> None:
            made.append(archive.create(
                runtime.engine, folder / f"ours{len(made)}", now=runtime.clock.now(),
                keys="bench", ledger=empty.path,
            ))  # fmt: skip

        def plain_backup_once() -> None:
            plain_file.unlink(missing_ok=True)
            plain_backup(runtime.engine, plain_file)

        # Alternated (plain, ours, ours, plain), best of two each: the page cache and the
        # other suites' load favour neither side.
        backups: dict[str, list[float]] = {"plain": [], "ours": []}
        for which in ("plain", "ours", "ours", "plain"):
            work = plain_backup_once if which == "plain" else ours_backup
            backups[which].append(seconds(work))
        line(f"backup ({made[0].manifest['bytes'] / 2**20:.0f} MiB)", min(backups["ours"]),
             min(backups["plain"]))  # fmt: skip
        hashing = seconds(lambda: archive.sha256(made[0].database_file))
        print(f"  (of ours, the file's SHA-256 takes {hashing:.2f} s, once at backup and once "
              "at restore)")  # fmt: skip
        restores: dict[str, list[float]] = {"plain": [], "ours": []}
        for which in ("plain", "ours", "ours", "plain"):
            with empty_database(backend, folder) as target:
                if which == "plain":
                    restores[which].append(seconds(lambda: plain_restore(plain_file, target)))
                else:
                    restores[which].append(
                        seconds(lambda: ours_restore(made[0], target, runtime, empty))
                    )
        line("restore (empty ledger)", min(restores["ours"]), min(restores["plain"]))
        ledger = Ledger(folder / "ledger.jsonl")
        at = runtime.clock.now() + timedelta(seconds=1)
        for sid in random.Random(7).sample(ids, min(erasures, len(ids))):
            ledger.append(None, new_entry(at=at, kind="erasure", subject_id=sid, classes=None,
                                          ref=str(uuid.uuid4())))  # fmt: skip
        with empty_database(backend, folder) as c:
            done = ours_restore(made[0], c, runtime, ledger)
        assert done.ok, done.problems
        r = done.replayed
        rate = r.erasures / r.seconds
        print(f"  replay of {r.erasures:,} erasures: {r.seconds:.2f} s ({rate:,.0f}/s, "
              f"{r.keys_destroyed:,} data keys destroyed)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--erasures", type=int, default=1_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    configure_logging("console", "warning")
    missing = [t for t in ("sqlite3", "pg_dump", "pg_restore") if shutil.which(t) is None]
    if missing:  # the baselines are the plain tools themselves
        raise SystemExit(
            f"bench/backup.py needs {', '.join(missing)} (apt: sqlite3, postgresql-client)"
        )
    print("Backups (one loaded 2-core machine shared with others: compare ratios, not seconds)")
    for backend in [args.backend] if args.backend else backends():
        bench(backend, args.people, args.events, args.erasures)


if __name__ == "__main__":
    main()
