"""`safehold requests …`: the request log for staff, and running an erasure."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from safehold.access.rules import Actor
from safehold.cli_support import fail, out, runtime_or_exit, upgrade_or_exit
from safehold.comms import service as comms
from safehold.db import transaction
from safehold.errors import SafeholdError
from safehold.requests import jobs, rules, service

app = typer.Typer(help="Data-subject requests: deadlines, erasure.", no_args_is_help=True)
STAFF = Actor("admin", "cli")


@app.command("list")
def list_command(
    overdue: Annotated[bool, typer.Option(help="Only open requests past their deadline")] = False,
    status: Annotated[list[rules.Status] | None, typer.Option(help="Filter by status")] = None,
) -> None:
    """Requests by deadline, soonest first. Exit 1 with --overdue when any is overdue."""
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        found = service.listing(
            session, now=now, status=[str(s) for s in status or []], overdue=overdue
        )
        rows = [
            (str(r.id), r.kind, r.status, r.received_at.date().isoformat(),
             r.deadline_at.isoformat(timespec="minutes"),
             "yes" if rules.is_overdue(r.status, r.deadline_at, now) else "")
            for r in found
        ]  # fmt: skip
    table = Table("id", "kind", "status", "received", "deadline", "overdue")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(f"{len(rows)} request(s)", highlight=False)
    if overdue and rows:
        raise typer.Exit(1)


@app.command("erase")
def erase_command(request_id: Annotated[str, typer.Argument(help="The request id")]) -> None:
    """Carry out (or resume) a verified erasure request and print its outcome."""
    try:
        rid = uuid.UUID(request_id)
    except ValueError:
        fail("that is not a request id")
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))
    with Progress(transient=True) as progress:
        task = progress.add_task("erasing", total=len(rules.STEPS))
        try:
            cert = jobs.erase(
                runtime.sessions, ctx, rid, actor=STAFF,
                after_step=lambda _step: progress.advance(task),
            )  # fmt: skip
        except SafeholdError as exc:
            fail(exc.message)
    verified = "passed" if cert["verification"]["ok"] else "FAILED"
    out.print(
        f"{cert.get('outcome')}: {len(cert['erased']['categories'])} categories erased, "
        f"{len(cert['kept'])} kept, verification {verified}",
        highlight=False,
    )
