"""`safehold requests …`: the request log for staff, extending a deadline, running an erasure,
writing an export, restricting processing."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from safehold.access.rules import Actor
from safehold.cli_support import (
    FormatOption,
    ListFormat,
    echo_json,
    fail,
    full_table,
    out,
    runtime_or_exit,
    upgrade_or_exit,
)
from safehold.errors import SafeholdError
from safehold.requests import rules
from safehold.requests.rules import Kind, Status

if TYPE_CHECKING:
    from safehold.requests.service import Context
    from safehold.runtime import Runtime

# The services and the database are imported by the commands that use them: `--help` needs
# only the rules, for the choices it lists (cli_group).

app = typer.Typer(
    help="Data-subject requests: deadlines, erasure, restriction.", no_args_is_help=True
)
STAFF = Actor("admin", "cli")


@app.command("list")
def list_command(
    overdue: Annotated[bool, typer.Option(help="Only open requests past their deadline")] = False,
    status: Annotated[list[rules.Status] | None, typer.Option(help="Filter by status")] = None,
    fmt: FormatOption = ListFormat.table,
) -> None:
    """Requests by deadline, soonest first. Exit 1 with --overdue when any is overdue."""
    from safehold.db import transaction
    from safehold.requests import service
    from safehold.requests.schemas import request_view

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        found = service.listing(
            session, now=now, status=[str(s) for s in status or []], overdue=overdue
        )
        listed = [request_view(r, now) for r in found]
    if fmt is ListFormat.json:
        echo_json(listed)
    else:
        table = full_table("id", "kind", "status", "received", "deadline", "overdue", whole={"id"})
        for r in listed:
            table.add_row(
                str(r.id), r.kind, r.status, r.received_at.date().isoformat(),
                r.deadline_at.isoformat(timespec="minutes"), "yes" if r.overdue else "",
            )  # fmt: skip
        out.print(table)
        out.print(f"{len(listed)} request(s)", highlight=False)
    if overdue and listed:
        raise typer.Exit(1)


def _context(runtime: Runtime) -> Context:
    from safehold.comms import service as comms
    from safehold.requests import service

    return service.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))


def _request_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        fail("that is not a request id")


@app.command("extend")
def extend_command(
    request_id: Annotated[str, typer.Argument(help="The request id")],
    reason: Annotated[
        str, typer.Option("--reason", help=f"One of: {', '.join(rules.EXTENSION_REASONS)}")
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="ISO 8601 duration (default: the policy's max_extension)"),
    ] = None,
) -> None:
    """Extend an open request's deadline once, before it passes; the person is e-mailed the
    new deadline and the reason."""
    from safehold.db import transaction
    from safehold.requests import extension

    rid = _request_id(request_id)
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = _context(runtime)
    wanted = (by or "").strip().upper() or runtime.policy.requests.max_extension
    try:
        with transaction(runtime.sessions) as session:
            request = extension.extend(
                session, ctx, rid, actor=STAFF, reason=reason, extension=wanted
            )
            said = f"new deadline {request.deadline_at.isoformat(timespec='minutes')}"
    except SafeholdError as exc:
        allowed = exc.details.get("allowed")
        fail(
            f"{exc.message} (code {exc.code})"
            + (f" (one of: {', '.join(allowed)})" if allowed else "")
        )
    out.print(f"{said}; the person's e-mail is queued", highlight=False)


@app.command("erase")
def erase_command(request_id: Annotated[str, typer.Argument(help="The request id")]) -> None:
    """Carry out (or resume) a verified erasure request and print its outcome."""
    from safehold.requests import jobs

    rid = _request_id(request_id)
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = _context(runtime)
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


@app.command("export")
def export_command(
    request_id: Annotated[str, typer.Argument(help="The access request's id")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: standard output)")
    ] = None,
) -> None:
    """Answer a verified access request (or re-read an answered one) and write the JSON."""
    from safehold.db import transaction
    from safehold.requests import export, service

    rid = _request_id(request_id)
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = _context(runtime)
    try:
        with transaction(runtime.sessions) as session:
            request = service.get(session, rid)
            if request.kind == Kind.ACCESS and request.status == Status.VERIFIED:
                service.fulfil_access(session, ctx, rid, actor=STAFF)
            elif request.kind != Kind.ACCESS or request.status != Status.COMPLETED:
                fail("only a verified or answered access request can be exported")
            subject_id = request.subject_id
        chunks = export.stream_json(runtime.sessions, ctx, subject_id)
        sink = out_file.open("wb") if out_file is not None else sys.stdout.buffer
        written = 0
        with Progress(transient=True, disable=out_file is None) as progress:
            task = progress.add_task("exporting", total=None)
            for chunk in chunks:
                sink.write(chunk)
                written += len(chunk)
                progress.update(task, completed=written)
        if out_file is not None:
            sink.close()
            out.print(f"wrote {written} bytes to {out_file}", highlight=False)
    except SafeholdError as exc:
        fail(exc.message)


def _restriction_step(request_id: str, step: str, reason: str | None = None) -> None:
    from safehold.db import transaction
    from safehold.requests import restriction

    rid = _request_id(request_id)
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = _context(runtime)
    try:
        with transaction(runtime.sessions) as session:
            if step == "apply":
                row = restriction.apply(session, ctx, rid, actor=STAFF, reason=reason or "")
                said = f"restricted since {row.applied_at.isoformat(timespec='minutes')}"
            elif step == "notice":
                restriction.announce_lift(session, ctx, rid, actor=STAFF, reason=reason or "")
                said = "the person's e-mail is queued; lift once it is sent"
            else:
                restriction.lift(session, ctx, rid, actor=STAFF)
                said = "restriction lifted; recipients are being told"
    except SafeholdError as exc:
        allowed = exc.details.get("allowed")
        fail(exc.message + (f" (one of: {', '.join(allowed)})" if allowed else ""))
    out.print(said, highlight=False)


Reason = Annotated[str, typer.Option("--reason", help="A code from the closed list")]


@app.command("restrict")
def restrict_command(
    request_id: Annotated[str, typer.Argument(help="The verified restriction request's id")],
    reason: Reason,
) -> None:
    """Restrict processing (Art. 18) on a verified restriction request."""
    _restriction_step(request_id, "apply", reason)


@app.command("lift-notice")
def lift_notice_command(
    request_id: Annotated[str, typer.Argument(help="The restriction request's id")],
    reason: Reason,
) -> None:
    """E-mail the person that the restriction will be lifted, and why (Art. 18(3))."""
    _restriction_step(request_id, "notice", reason)


@app.command("lift")
def lift_command(
    request_id: Annotated[str, typer.Argument(help="The restriction request's id")],
) -> None:
    """Lift the restriction, once the e-mail telling the person has been sent."""
    _restriction_step(request_id, "lift")
