"""`safehold ropa` and `safehold sharing …`: the record of processing activities, the
recipients, and the notices owed to them (list, acknowledge, retry, deliver)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from safehold.access.rules import Actor
from safehold.cli_support import err, fail, full_table, out, runtime_or_exit, upgrade_or_exit
from safehold.errors import SafeholdError

# The services and the database are imported by the commands that use them: `--help` needs
# none of them (cli_group).

app = typer.Typer(
    help="Third-party sharing: recipients and the notices owed to them.", no_args_is_help=True
)
STAFF = Actor("admin", "cli")


class RopaFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


class Status(StrEnum):
    pending = "pending"
    acknowledged = "acknowledged"
    all = "all"


def ropa_command(
    fmt: Annotated[RopaFormat, typer.Option("--format", help="md, html or json")] = RopaFormat.md,
    verify: Annotated[
        bool, typer.Option(help="Walk the audit chain and report the result (linear in its size)")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here")] = None,
) -> None:
    """Print the record of processing activities (GDPR Art. 30) from the policy and live data."""
    from safehold.db import transaction
    from safehold.sharing import ropa, ropa_read

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        document = ropa_read.read(
            session, policy=runtime.policy, vault=runtime.vault, clock=runtime.clock,
            webhooks=runtime.settings.webhooks, actor=STAFF, verify_audit=verify,
        )  # fmt: skip
    if fmt is RopaFormat.json:
        text = document.model_dump_json(indent=2) + "\n"
    elif fmt is RopaFormat.html:
        text = ropa.render_html(document)
    else:
        text = ropa.render_markdown(document)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)


@app.command()
def recipients() -> None:
    """The recipients the policy declares, and whether their notices go by webhook."""
    from safehold.sharing import service
    from safehold.subjects.service import Context

    runtime = runtime_or_exit()
    ctx = Context(runtime.vault, runtime.policy, runtime.clock)
    table = full_table("recipient", "purposes", "categories", "notices", whole={"recipient"})
    for r in service.recipients(ctx, runtime.settings.webhooks):
        notices = r.delivery if r.notify_on_erasure else "not told"
        where = f"{r.role}, {r.country}" + (" (third country)" if r.third_country else "")
        table.add_row(f"{r.id}\n{where}", "\n".join(r.purposes), "\n".join(r.categories), notices)
    out.print(table)


@app.command()
def notices(
    status: Annotated[Status, typer.Option(help="pending, acknowledged or all")] = Status.pending,
    overdue: Annotated[bool, typer.Option(help="Only those past their due date")] = False,
) -> None:
    """The notices owed to recipients (erasure, restriction, correction), oldest first."""
    from safehold.db import transaction
    from safehold.sharing import propagation, rules

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    now = runtime.clock.now()
    hooked = runtime.settings.webhooks
    with transaction(runtime.sessions) as session:
        rows = propagation.list_propagations(
            session, now=now, status=status.value, overdue=overdue, limit=1000
        )
    if not rows:
        out.print("no notices")
        return
    # One line per notice, never wrapped: staff copy the id into `safehold sharing ack`.
    for row in rows:
        state = rules.State(row.state)
        overdue_mark = "  OVERDUE" if rules.is_overdue(state, row.due_at, now) else ""
        out.print(
            f"{row.id}  {row.recipient_id}  {row.event}  {row.state}  "
            f"{'webhook' if row.recipient_id in hooked else 'manual'}  "
            f"tries {row.attempts}  due {row.due_at.date().isoformat()}{overdue_mark}",
            soft_wrap=True,
            highlight=False,
        )


def _by_id(action: str, notice_id: str) -> None:
    from safehold.db import transaction
    from safehold.sharing import propagation

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        parsed = uuid.UUID(notice_id)
    except ValueError:
        fail("that is not a notice id")
    try:
        with transaction(runtime.sessions) as session:
            if action == "ack":
                propagation.acknowledge(session, parsed, actor=STAFF, clock=runtime.clock)
            else:
                propagation.retry(session, parsed, clock=runtime.clock)
    except SafeholdError as exc:
        fail(exc.message)
    verb = "Acknowledged" if action == "ack" else "Queued again"
    out.print(f"{verb}: notice {parsed}")


@app.command()
def ack(notice_id: Annotated[str, typer.Argument(help="The notice id")]) -> None:
    """Record that the recipient was told and confirmed (manual, or after a webhook gave up)."""
    _by_id("ack", notice_id)


@app.command()
def retry(notice_id: Annotated[str, typer.Argument(help="The notice id")]) -> None:
    """Start fresh webhook attempts for a notice whose retries gave up."""
    _by_id("retry", notice_id)


@app.command()
def deliver() -> None:
    """Send the notices that are due to recipients with a webhook, once (as the worker does)."""
    from safehold.sharing import jobs

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    report = jobs.deliver_due(runtime)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(report.errors.items())) or "none"
    out.print(
        f"{report.attempted} attempted, {report.delivered} delivered, "
        f"{report.failed_attempts} failed (errors: {errors}), {report.gave_up} gave up",
        highlight=False,
    )


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print a new random webhook secret for SAFEHOLD_RECIPIENT_WEBHOOKS."""
    from safehold.sharing import webhooks

    typer.echo(webhooks.new_secret())
