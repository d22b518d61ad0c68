"""Taking a backup: a consistent copy of the database while Safehold serves, and its manifest.

SQLite: the online backup API, page by page, from inside one read transaction on the source
(WAL mode: writers go on; the copy is the snapshot that transaction sees). PostgreSQL:
``pg_dump -Fc`` on a snapshot exported by a repeatable-read transaction that also reads the
manifest's facts, so the manifest describes exactly the data in the dump.

Never the keys: the manifest says which KEK versions the copy needs and where the keys are,
and the keys (with the erasure ledger) are backed up separately.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.access.models import AuditCheckpoint, AuditEntry, AuditHead
from safehold.subjects.models import Subject
from safehold.vault.models import DataKey

FORMAT = "safehold-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
PAGES_PER_STEP = 4096  # SQLite pages copied per backup step (16 MiB at 4 KiB pages)
Progress = Callable[[int, int], None]  # (done, total)


class BackupError(Exception):
    """A backup, restore or verify that cannot go on; ``str()`` is one line."""


@dataclass(frozen=True)
class Backup:
    """A backup on disk: its folder, the database file in it, and the manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def database_file(self) -> Path:
        return self.folder / str(self.manifest["file"])

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(str(self.manifest["created_at"]))


def facts(conn: Connection) -> dict[str, Any]:
    """What the manifest records about the database, read on ``conn`` (inside the snapshot
    the copy is made from): schema revision, audit position, KEK versions, people."""
    revision = None
    if inspect(conn).has_table(migrate.VERSION_TABLE):
        revision = ",".join(
            sorted(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        )
    heads = {int(h.id): [int(h.last_seq), h.last_hash] for h in conn.execute(select(AuditHead))}
    return {
        "schema_revision": revision,
        "audit": {
            "entries": conn.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            "heads": {str(k): v for k, v in sorted(heads.items())},
            "checkpoint": conn.scalar(select(func.max(AuditCheckpoint.number))),
        },
        "kek_versions": sorted(
            str(v) for v in conn.scalars(select(DataKey.kek_version).distinct())
        ),
        "key_probes": probes(conn),
        "people": conn.scalar(select(func.count()).select_from(Subject)) or 0,
    }


def probes(conn: Connection) -> dict[str, dict[str, str]]:
    """One wrapped data key per KEK version (as the database holds it, so nothing the copy
    does not already hold): a restore unwraps it first, to know the keys put back are the
    right ones before it loads anything."""
    found: dict[str, dict[str, str]] = {}
    for version in conn.scalars(select(DataKey.kek_version).distinct()):
        row = conn.execute(
            select(DataKey.subject_id, DataKey.retention_class, DataKey.wrapped_key)
            .where(DataKey.kek_version == version)
            .limit(1)
        ).one()
        found[str(version)] = {
            "subject_id": str(row.subject_id),
            "retention_class": row.retention_class,
            "wrapped_key": base64.b64encode(row.wrapped_key).decode("ascii"),
        }
    return found


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, and the environment carrying the
    password (never on the command line, where ``ps`` shows it)."""
    params: dict[str, Any] = {
        "host": url.host, "port": url.port, "dbname": url.database, "user": url.username,
        **{k: v for k, v in url.query.items() if isinstance(v, str)},
    }  # fmt: skip
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create(
    engine: Engine, dest: Path, *, now: datetime, keys: str, ledger: Path,
    progress: Progress | None = None,
) -> Backup:  # fmt: skip
    """Copy the database into a new folder under ``dest`` and write its manifest."""
    folder = dest / f"safehold-backup-{now:%Y%m%dT%H%M%S%fZ}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=False)
    try:
        if engine.dialect.name == "sqlite":
            name = SQLITE_FILE
            found = _copy_sqlite(engine, folder / name, progress)
        elif engine.dialect.name == "postgresql":
            name = PG_FILE
            found = _dump_postgres(engine, folder / name, progress)
        else:
            raise BackupError(f"no backup method for a {engine.dialect.name} database")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(timespec="microseconds"),
        "backend": engine.dialect.name,
        "file": name,
        "bytes": (folder / name).stat().st_size,
        "sha256": sha256(folder / name),
        "safehold_version": metadata.version("safehold"),
        **found,
        "keys": keys,
        "erasure_ledger": str(ledger),
        "holds_key_material": False,
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return Backup(folder, manifest)


def _copy_sqlite(engine: Engine, target: Path, progress: Progress | None) -> dict[str, Any]:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    source = sqlite3.connect(source_path, isolation_level=None)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.execute("BEGIN")  # one read snapshot for every step: writers go on meanwhile
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        source.backup(copy, pages=PAGES_PER_STEP, progress=step)
        source.execute("COMMIT")
    finally:
        source.close()
        copy.close()
    target.chmod(0o600)
    reader = create_engine(f"sqlite+pysqlite:///{target}")
    try:
        with reader.connect() as conn:
            return facts(conn)
    finally:
        reader.dispose()


def _dump_postgres(engine: Engine, target: Path, progress: Progress | None) -> dict[str, Any]:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (PostgreSQL client tools)")
    conninfo, env = libpq(engine.url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        found = facts(conn)
        tables = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
        ).scalar_one()
        command = [
            pg_dump, "--format=custom", "--verbose", f"--snapshot={snapshot}",
            f"--file={target}", f"--dbname={conninfo}",
        ]  # fmt: skip
        with subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
            command, env=env, stderr=subprocess.PIPE, text=True
        ) as process:
            assert process.stderr is not None
            done, errors = 0, []
            for line in process.stderr:
                if "dumping contents of table" in line:
                    done += 1
                    if progress is not None:
                        progress(min(done, int(tables)), int(tables))
                elif "error" in line.lower():
                    errors.append(line.strip())
            code = process.wait()
        if code != 0:
            raise BackupError(f"pg_dump failed: {errors[0] if errors else code}")
        conn.rollback()
    target.chmod(0o600)
    return found


def load(folder: Path) -> Backup:
    """A backup folder (or its manifest file) read back; BackupError if it is not one."""
    folder = folder.parent if folder.name == MANIFEST else folder
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} holds no readable {MANIFEST}: {type(exc).__name__}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    backup = Backup(folder, manifest)
    if not backup.database_file.is_file():
        raise BackupError(f"{backup.database_file} is missing")
    return backup


def check_file(backup: Backup) -> None:
    """The database file is the one the manifest describes (size and SHA-256)."""
    if sha256(backup.database_file) != backup.manifest.get("sha256"):
        raise BackupError(f"{backup.database_file} does not match its manifest's SHA-256")


def listing(dest: Path) -> list[Backup]:
    """The backups under ``dest``, oldest first (folders that are not backups are skipped)."""
    if not dest.is_dir():
        return []
    found = []
    for folder in sorted(p for p in dest.iterdir() if (p / MANIFEST).is_file()):
        try:
            found.append(load(folder))
        except BackupError:
            continue
    return sorted(found, key=lambda b: b.created_at)
