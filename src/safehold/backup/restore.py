"""Restoring a backup into an empty database, replaying the erasure ledger before anything
serves, and the restore drill (``verify``) that does the same into a scratch database.

Order, so no request ever sees a restored person who was erased since: the copy is loaded,
migrated to this code's schema, the restore is written to the audit log, every outstanding
ledger entry is re-applied (each with its audit entry), and the ledger is checked once more.
Only then does the command end; ``safehold serve`` refuses a database with outstanding
entries (:func:`safehold.backup.replay.settled_outstanding`) whichever way it was restored.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from safehold import migrate
from safehold.access import audit, checkpoints
from safehold.access.models import AuditCheckpoint
from safehold.backup import replay as replaying
from safehold.backup.archive import Backup, BackupError, check_file, libpq, sha256
from safehold.backup.ledger import ERASURE, Ledger
from safehold.clock import Clock
from safehold.db import transaction
from safehold.policy import Policy
from safehold.subjects.models import Subject


@dataclass(frozen=True)
class Restored:
    """What a restore (or a drill) did and found."""

    backup_at: datetime
    ledger_entries: int
    replayed: replaying.Replayed
    people: int
    erased_people: int
    problems: list[str] = field(default_factory=list)
    audit_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def is_empty(engine: Engine) -> bool:
    """No Safehold database there yet: no SQLite file (or an empty one), or a PostgreSQL
    database without a table in its schema."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        return not path.exists() or path.stat().st_size == 0
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ).scalar_one()
    return int(count) == 0


def load_database(backup: Backup, engine: Engine) -> None:
    """Put the backup's data into the (empty) database ``engine`` points at, once its file
    matches the manifest's SHA-256 (on SQLite checked while copying: a mismatch removes the
    copy)."""
    if backup.manifest["backend"] != engine.dialect.name:
        raise BackupError(
            f"this is a {backup.manifest['backend']} backup; the database is {engine.dialect.name}"
        )
    if not is_empty(engine):
        raise BackupError(
            "the target database is not empty: restore into a new, empty data directory or "
            "database (nothing is overwritten)"
        )
    if engine.dialect.name == "sqlite":
        target = Path(engine.url.database or "")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(sha256, backup.database_file)  # hashing releases the GIL
            source = sqlite3.connect(backup.database_file)
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
            matches = digest.result() == backup.manifest.get("sha256")
        if not matches:
            for suffix in ("", "-journal", "-wal", "-shm"):  # the copy and SQLite's own files
                target.with_name(target.name + suffix).unlink(missing_ok=True)
            raise BackupError(f"{backup.database_file} does not match its manifest's SHA-256")
        target.chmod(0o600)
        return
    check_file(backup)
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed (PostgreSQL client tools)")
    conninfo, env = libpq(engine.url)
    command = [
        pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
        f"--dbname={conninfo}", str(backup.database_file),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [str(done.returncode)])[0]
        raise BackupError(f"pg_restore failed: {first}")


def trim_checkpoint_file(
    data_dir: Path, sessions: sessionmaker[Session], now: datetime
) -> Path | None:
    """The audit checkpoints written after the backup describe entries the restored log does
    not have: the file is kept whole beside (``…before-restore-<time>``) and the live file
    keeps the checkpoints the restored database holds, so ``safehold audit verify`` checks
    the restored log against what it really contained. Returns the kept copy, if any."""
    path = data_dir / checkpoints.FILE
    if not path.exists():
        return None
    with transaction(sessions) as session:
        newest = session.scalar(select(func.max(AuditCheckpoint.number))) or 0
    kept = path.with_name(f"{path.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
    shutil.copy2(path, kept)
    lines = path.read_text(encoding="utf-8").splitlines()
    keep = [line for line in lines if (made := checkpoints.parse(line)) and made.number <= newest]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return kept


def bring_up_to_ledger(
    backup: Backup, engine: Engine, sessions: sessionmaker[Session], *, ledger: Ledger,
    policy: Policy, clock: Clock, audit_key: bytes,
) -> Restored:  # fmt: skip
    """After :func:`load_database`: migrate, record the restore, replay, check again."""
    migrate.upgrade(engine, audit_key=audit_key)
    entries = ledger.read().entries
    with transaction(sessions) as session:
        audit.record(
            session, actor=replaying.ACTOR, action="backup.restore", subject_id=None,
            categories=[], purpose=replaying.PURPOSE, outcome="ok", clock=clock,
        )  # fmt: skip
        due = replaying.outstanding(session, entries)
    done = replaying.replay(sessions, due, policy=policy, clock=clock)
    with transaction(sessions) as session:
        problems = replaying.unreadable(session, entries)
        people = session.scalar(select(func.count()).select_from(Subject)) or 0
        erased = (
            session.scalar(
                select(func.count()).select_from(Subject).where(Subject.status == "erased")
            )
            or 0
        )
    return Restored(backup.created_at, len(entries), done, people, erased, problems)


def drill(
    backup: Backup, engine: Engine, sessions: sessionmaker[Session], *, ledger: Ledger,
    policy: Policy, clock: Clock, audit_key: bytes, outside: list[checkpoints.Checkpoint],
) -> Restored:  # fmt: skip
    """``safehold backup verify``: restore into the scratch database ``engine``, replay,
    verify the audit chains (with the checkpoints kept outside that the backup covers), and
    check that every erasure in the ledger left nothing readable."""
    load_database(backup, engine)
    restored = bring_up_to_ledger(
        backup, engine, sessions, ledger=ledger, policy=policy, clock=clock, audit_key=audit_key
    )
    problems = list(restored.problems)
    with transaction(sessions) as session:
        newest = session.scalar(select(func.max(AuditCheckpoint.number))) or 0
        copies = [(f"checkpoint {c.number} kept outside", c) for c in outside if c.number <= newest]
        result = audit.verify(session, outside=copies)
        for entry in ledger.read().entries:
            if entry.kind != ERASURE:
                continue
            person = session.get(Subject, entry.subject_id)
            if person is not None and person.status != "erased":
                problems.append(f"person {entry.subject_id} (erasure {entry.ref}) is not erased")
    if result.broken is not None:
        problems.append(f"audit log broken at {result.broken.where}: {result.broken.reason}")
    return Restored(
        restored.backup_at, restored.ledger_entries, restored.replayed, restored.people,
        restored.erased_people, problems, result.checked,
    )  # fmt: skip
