"""`safehold audit …`: verify the keyed chain of the audit log."""

from __future__ import annotations

import typer

from safehold.access import audit
from safehold.cli_support import fail, out, runtime_or_exit, upgrade_or_exit
from safehold.db import transaction

app = typer.Typer(help="The keyed, hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Walk the whole chain; name the first broken link (exit 1) or print the head hash."""
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        result = audit.verify(session)
    if result.broken is not None:
        fail(
            f"audit chain broken at {result.broken.where}: {result.broken.reason} "
            f"({result.checked} entries verified before it)",
            code=1,
        )
    out.print(f"audit chains intact: {result.checked} entries; heads digest {result.head_hash}")
