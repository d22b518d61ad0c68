"""`safehold backup …`: create, list, restore, verify, replay (docs/operations.md,
"Backup and restore"). The commands call :mod:`archive`, :mod:`restore` and :mod:`replay`."""

from __future__ import annotations

import base64
import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from safehold.cli_support import fail, out, runtime_or_exit, settings_or_exit, upgrade_or_exit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from safehold.backup import archive, restore
    from safehold.backup.ledger import Ledger
    from safehold.config import Settings
    from safehold.runtime import Runtime

# The database, the vault and the backup machinery are imported by the commands that use
# them: `--help` needs none of them (cli_group).

app = typer.Typer(help="Backups that cannot bring an erased person back.", no_args_is_help=True)
EXIT_BEHIND = 3  # the database is behind the erasure ledger (serve, worker, verify)


def _one_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0][:300]


def keys_location(settings: Settings) -> str:
    from safehold.vault.providers import KEY_FILE

    if settings.kek is not None and settings.kek.strip():
        return "SAFEHOLD_KEK (the environment)"
    return f"key file {settings.data_dir / KEY_FILE}"


@contextlib.contextmanager
def _bar(label: str) -> Iterator[Progress]:
    with Progress(
        TextColumn(label), BarColumn(), TaskProgressColumn(), console=out, transient=True
    ) as bar:
        yield bar


@app.command()
def create(
    to: Annotated[
        Path | None, typer.Option("--to", help="Folder for the backup (SAFEHOLD_BACKUP_DIR)")
    ] = None,
) -> None:
    """Copy the database while Safehold serves (never the keys) and write its manifest."""
    from sqlalchemy.exc import SQLAlchemyError

    from safehold.backup import archive
    from safehold.backup.archive import BackupError

    runtime = runtime_or_exit()  # no migration: the copy is of the database as it is
    settings = runtime.settings
    dest = to or settings.backup_path
    with _bar("backing up") as bar:
        task = bar.add_task("copy", total=None)
        try:
            made = archive.create(
                runtime.engine, dest, now=runtime.clock.now(), keys=keys_location(settings),
                ledger=settings.erasure_ledger_path,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
        except (BackupError, OSError, SQLAlchemyError) as exc:
            fail(f"backup failed: {_one_line(exc)}")
    m = made.manifest
    out.print(
        f"backup {made.folder}\n"
        f"  {m['bytes']:,} bytes, {m['people']:,} people, schema {m['schema_revision']}, "
        f"audit entries {m['audit']['entries']:,}, KEK versions needed: "
        f"{', '.join(m['kek_versions']) or 'none yet'}\n"
        f"It holds no key material. The keys are in {m['keys']} and the erasure ledger in "
        f"{m['erasure_ledger']}: back them up separately, to another place than this backup.",
        highlight=False,
        soft_wrap=True,  # paths stay whole, for scripts and copy-paste
    )


@app.command("list")
def list_backups(
    where: Annotated[Path | None, typer.Option("--in", help="Folder to list")] = None,
) -> None:
    """The backups in the backup folder, oldest first."""
    from safehold.backup import archive

    settings = settings_or_exit()
    folder = where or settings.backup_path
    found = archive.listing(folder)
    if not found:
        out.print(f"no backups in {folder}")
        return
    for b in found:  # one line each, the folder whole: for scripts and copy-paste
        m = b.manifest
        out.print(
            f"{b.created_at:%Y-%m-%d %H:%M:%S} UTC  {m['backend']:<10} {m['bytes']:>14,} bytes "
            f"{m['people']:>9,} people  schema {m['schema_revision']}  {b.folder}",
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _backup_or_exit(source: Path) -> archive.Backup:
    from safehold.backup import archive
    from safehold.backup.archive import BackupError

    try:
        return archive.load(source)
    except BackupError as exc:
        fail(str(exc))


def _keys_or_exit(runtime: Runtime, backup: archive.Backup) -> None:
    """The keys put back must open the backup's data keys: one wrapped key per KEK version
    (the manifest's ``key_probes``) is unwrapped before anything is loaded."""
    from safehold.vault import rules as vault_rules
    from safehold.vault.errors import DecryptionFailed, KeyProviderError

    for version, probe in sorted(backup.manifest.get("key_probes", {}).items()):
        aad = vault_rules.key_aad(uuid.UUID(probe["subject_id"]), probe["retention_class"])
        try:
            runtime.vault.provider.unwrap(version, base64.b64decode(probe["wrapped_key"]), aad)
        except (DecryptionFailed, KeyProviderError):
            fail(
                f"the keys in {keys_location(runtime.settings)} cannot open this backup's data "
                f"keys of KEK version {version}: put back the key file (or SAFEHOLD_KEK) that "
                "was in use when the backup was taken; nothing was restored"
            )


def _ledger_or_exit(runtime: Runtime) -> Ledger:
    from safehold.backup.ledger import Ledger, LedgerError

    ledger = runtime.vault.ledger or Ledger(runtime.settings.erasure_ledger_path)
    try:
        ledger.read()
    except LedgerError as exc:
        fail(str(exc))
    return ledger


def _report(done: restore.Restored) -> None:
    r = done.replayed
    out.print(
        f"backup taken {done.backup_at:%Y-%m-%d %H:%M:%S} UTC; erasure ledger: "
        f"{done.ledger_entries} entries; re-applied {r.erasures} erasures and "
        f"{r.retention_shreds} retention shreds ({r.keys_destroyed} data keys destroyed, "
        f"{r.seconds:.2f} s); {done.people} people, {done.erased_people} erased",
        highlight=False,
        soft_wrap=True,
    )


@app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A backup folder (from `backup create`)")],
) -> None:
    """Restore into the configured data directory or database, which must be empty, then
    re-apply every erasure and retention shred in the erasure ledger before anything serves."""
    from safehold.backup import restore
    from safehold.backup.archive import BackupError

    backup = _backup_or_exit(source)
    runtime = runtime_or_exit()
    _keys_or_exit(runtime, backup)
    ledger = _ledger_or_exit(runtime)
    try:
        with _bar("restoring") as bar:
            bar.add_task("load", total=None)
            restore.load_database(backup, runtime.engine)
        restore.trim_checkpoint_file(
            runtime.settings.data_dir, runtime.sessions, runtime.clock.now()
        )
        done = restore.bring_up_to_ledger(
            backup, runtime.engine, runtime.sessions, ledger=ledger, policy=runtime.policy,
            clock=runtime.clock, audit_key=runtime.audit_key(),
        )  # fmt: skip
    except (BackupError, OSError) as exc:
        fail(f"restore failed: {exc}")
    _report(done)
    if not done.ok:
        fail("; ".join(done.problems), code=EXIT_BEHIND)
    out.print("restored; the database is level with the erasure ledger and may serve")


@app.command("replay")
def replay_command() -> None:
    """Re-apply the erasure ledger's outstanding entries to the configured database (after a
    restore made with other tools, or one that stopped before its replay)."""
    from safehold.backup import replay

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    entries = _ledger_or_exit(runtime).read().entries
    due = replay.settled_outstanding(runtime.sessions, entries)
    done = replay.replay(runtime.sessions, due, policy=runtime.policy, clock=runtime.clock)
    out.print(
        f"re-applied {done.erasures} erasures and {done.retention_shreds} retention shreds "
        f"({done.keys_destroyed} data keys destroyed) of {len(entries)} ledger entries"
    )


@contextlib.contextmanager
def _scratch(settings: Settings, scratch_url: str | None) -> Iterator[Engine]:
    """An empty database of the configured kind, removed afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import URL

    from safehold.config import normalise_database_url
    from safehold.db import make_engine

    if settings.database.get_backend_name() == "sqlite" and scratch_url is None:
        with tempfile.TemporaryDirectory(prefix="safehold-verify-") as folder:
            engine = make_engine(URL.create("sqlite+pysqlite", database=f"{folder}/drill.db"))
            try:
                yield engine
            finally:
                engine.dispose()
        return
    if scratch_url is not None:
        engine = make_engine(normalise_database_url(scratch_url))
        try:
            yield engine
        finally:
            engine.dispose()
        return
    name = f"safehold_verify_{uuid.uuid4().hex[:12]}"
    admin = make_engine(settings.database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(settings.database.set(database=name))
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@app.command()
def verify(
    source: Annotated[Path, typer.Argument(help="A backup folder")],
    scratch_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL: an empty database to restore into (default: a new one "
            "on the configured server, dropped afterwards)"
        ),
    ] = None,
) -> None:
    """The restore drill: restore into a scratch database, replay the ledger, verify the
    audit chains and that no erased person is readable; exit 0 only when all holds."""
    from sqlalchemy.exc import SQLAlchemyError

    from safehold.access import checkpoints
    from safehold.backup import restore
    from safehold.backup.archive import BackupError
    from safehold.db import make_session_factory

    backup = _backup_or_exit(source)
    runtime = runtime_or_exit()
    _keys_or_exit(runtime, backup)
    ledger = _ledger_or_exit(runtime)
    outside = [c for _, c in checkpoints.read_file(runtime.settings.data_dir) if c is not None]
    try:
        with _scratch(runtime.settings, scratch_url) as engine:
            sessions = make_session_factory(engine, audit_key=runtime.new_audit_keys())
            done = restore.drill(
                backup, engine, sessions, ledger=ledger, policy=runtime.policy,
                clock=runtime.clock, audit_key=runtime.audit_key(), outside=outside,
            )  # fmt: skip
    except (BackupError, OSError, SQLAlchemyError) as exc:
        fail(f"verify failed: {_one_line(exc)}")
    _report(done)
    out.print(f"audit chains verified: {done.audit_entries} entries")
    if not done.ok:
        for problem in done.problems:
            out.print(f"[red]problem:[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    out.print("drill passed: no erased person is readable in the restored copy")


def refuse_if_behind(runtime: Runtime) -> None:
    """`serve` and `worker`: a database behind the erasure ledger does not serve (exit 3)."""
    from safehold.backup import replay

    ledger = _ledger_or_exit(runtime)
    due = replay.settled_outstanding(runtime.sessions, ledger.read().entries)
    if due:
        erasures = sum(1 for e in due if e.kind == "erasure")
        fail(
            f"the database is behind the erasure ledger {ledger.path}: {erasures} erasures and "
            f"{len(due) - erasures} retention shreds made since this copy are not applied. "
            "Run 'safehold backup replay' before serving",
            code=EXIT_BEHIND,
        )
