"""`safehold audit …`: verify the keyed chains of the audit log, and seal checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safehold.cli_support import fail, out, runtime_or_exit, upgrade_or_exit

app = typer.Typer(help="The keyed, hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            help="A checkpoint kept elsewhere (its JSON, or @FILE): it must be authentic, "
            "in the database, and every chain must still reach the heads it sealed.",
        ),
    ] = None,
) -> None:
    """Walk every chain, the checkpoints in the database and in the file beside the keys;
    name the first broken place (exit 1) or print the heads digest."""
    from safehold.access import audit, checkpoints
    from safehold.db import reading_only, transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    outside: list[tuple[str, checkpoints.Checkpoint | None]] = [
        (f"{checkpoints.FILE} line {n}", made)
        for n, made in checkpoints.read_file(runtime.settings.data_dir)
    ]
    if expect is not None:
        text = Path(expect[1:]).read_text(encoding="utf-8") if expect.startswith("@") else expect
        outside.append(("the expected checkpoint", checkpoints.parse(text)))
    with transaction(runtime.sessions) as session:
        reading_only(session)  # on SQLite, a snapshot that never holds writers up
        result = audit.verify(session, outside=outside)
    if result.broken is not None:
        fail(
            f"audit log broken at {result.broken.where}: {result.broken.reason} "
            f"({result.checked} entries verified before it)",
            code=1,
        )
    out.print(f"audit chains intact: {result.checked} entries; heads digest {result.head_hash}")


@app.command()
def checkpoint() -> None:
    """Seal every chain's head into the next checkpoint now; print it (the line appended to
    the checkpoint file): keep a copy elsewhere for `verify --expect`."""
    from safehold.access import checkpoint_jobs

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    made = checkpoint_jobs.make(runtime)
    out.print(made.line(), highlight=False, soft_wrap=True)


@app.command("rotate-key")
def rotate_key() -> None:
    """Add a new audit key version (random, wrapped by the current key-encryption key):
    every process keys new entries with it within 30 seconds, and checkpoints are sealed with
    it from two minutes on; after that, entries keyed by an older version fail `verify`."""
    from safehold.access import audit, audit_keys
    from safehold.access.rules import Actor
    from safehold.db import transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        version = audit_keys.rotate(session, runtime.vault.provider, now=runtime.clock.now())
        audit.record(
            session, actor=Actor("admin", "cli"), action=f"audit.key_rotated.v{version}",
            subject_id=None, categories=[], purpose=None, outcome="ok",
            clock=runtime.clock,
        )  # fmt: skip
    switch = int(audit_keys.SWITCH_AFTER.total_seconds())
    out.print(
        f"audit key version {version} created, wrapped by KEK "
        f"{runtime.vault.provider.current_version()}. Every process keys new entries with it "
        f"within {audit_keys.REFRESH_SECONDS:g} seconds; checkpoints are sealed with it from "
        f"{switch} seconds on (`safehold audit checkpoint`, or the worker within the hour)."
    )
