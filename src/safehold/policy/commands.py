"""`safehold policy …`: check, render and diff policy files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safehold.access.rules import Actor
from safehold.cli_support import (
    err,
    fail,
    full_table,
    out,
    runtime_or_exit,
    settings_or_exit,
    upgrade_or_exit,
)
from safehold.errors import SafeholdError

if TYPE_CHECKING:
    from safehold.policy import Policy

# The policy package, the services and the database are imported by the commands that use
# them: `--help` needs none of them (cli_group).

app = typer.Typer(help="Check, render and compare policy files.", no_args_is_help=True)


class Format(StrEnum):
    md = "md"
    html = "html"


def _load(path: Path) -> Policy:
    from safehold.policy import PolicyFileError, load_policy

    try:
        return load_policy(path)
    except PolicyFileError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False, highlight=False)
        fail(f"{path}: {len(exc.issues)} problem(s)")


@app.command()
def check(file: Annotated[Path, typer.Argument(help="The policy file to validate")]) -> None:
    """Validate a policy file: every problem with its line and how to fix it."""
    policy = _load(file)
    out.print(
        f"{file}: valid — {len(policy.categories)} categories, {len(policy.purposes)} purposes, "
        f"{len(policy.recipients)} recipients, {len(policy.retention)} retention rules",
        highlight=False,
    )


@app.command()
def render(
    file: Annotated[
        Path | None, typer.Argument(help="Policy file (default: SAFEHOLD_POLICY)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="md or html")] = Format.md,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here")] = None,
) -> None:
    """Write the human-readable policy generated from the rules."""
    from safehold.policy.render import render_html, render_markdown

    policy = _load(file or settings_or_exit().policy_path)
    text = render_markdown(policy) if fmt is Format.md else render_html(policy)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier policy file")],
    new: Annotated[Path, typer.Argument(help="The later policy file")],
) -> None:
    """List the rule changes between two policy files and classify them minor or material."""

    from safehold.policy import diff_policies

    result = diff_policies(_load(old), _load(new))
    if not result.changes:
        out.print("no rule changes")
        return
    table = full_table("change", "what", "class", whole={"change"})
    for change in result.changes:
        table.add_row(change.kind, change.description, str(change.change_class))
    out.print(table)
    out.print(f"change class: [bold]{result.change_class}[/]")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail("--effective must be a date or date-time like 2026-12-31 or 2026-12-31T09:00+00:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="The new policy file")],
    effective: Annotated[
        str | None, typer.Option(help="When it takes effect (default: the earliest allowed)")
    ] = None,
    material: Annotated[bool, typer.Option(help="Publish as material even if minor")] = False,
) -> None:
    """Publish a new, immutable policy version; it takes effect at its date by itself."""
    from safehold.comms import service as comms
    from safehold.db import transaction
    from safehold.notices import service as notices
    from safehold.notices.announce import announce

    _load(file)  # every problem with its line before anything else
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            published = notices.publish(
                session, source=file.read_text(encoding="utf-8"), source_name=str(file),
                effective_at=_when(effective), requested_class="material" if material else None,
                clock=runtime.clock, actor=Actor("admin", "cli"), site=runtime.settings.base_url,
            )  # fmt: skip
            version = published.version
            if published.previous is not None:
                announce(session, comms.context(runtime), version, actor=Actor("admin", "cli"))
            out.print(
                f"published {version.label} ({version.change_class}), in force from "
                f"{version.effective_at.isoformat(timespec='minutes')}; "
                f"{len(version.changes)} rule change(s)",
                highlight=False,
            )
    except SafeholdError as exc:
        fail(exc.message)
    if runtime.shared is not None:  # committed: serving processes load it on their next request
        runtime.shared.announce_policy(version.seq)


@app.command()
def withdraw(
    version: Annotated[int, typer.Argument(help="The version number (v3 → 3)", min=1)],
) -> None:
    """Withdraw a scheduled version before it takes effect: its unsent notices are stopped,
    the people it reached get one note."""
    from safehold.comms import service as comms
    from safehold.db import transaction
    from safehold.notices import withdrawal

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            row = withdrawal.withdraw(
                session, comms.context(runtime), version, actor=Actor("admin", "cli")
            )
            out.print(
                f"withdrew v{version}: {row.notices_stopped} unsent notice(s) stopped, "
                f"{row.people_told} person(s) already e-mailed will be told",
                highlight=False,
            )
    except SafeholdError as exc:
        fail(exc.message)


@app.command()
def versions() -> None:
    """List the published versions and which one is in force."""
    from safehold.db import transaction
    from safehold.notices import service as notices

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        runtime.book.load(session)
        current = runtime.book.in_force(runtime.clock.now())
        withdrawn = notices.withdrawals(session)
        table = full_table(
            "version", "class", "effective", "published", "changes", "in force", whole={"version"}
        )
        for v in notices.versions(session):
            table.add_row(
                v.label, v.change_class, v.effective_at.isoformat(timespec="minutes"),
                v.published_at.isoformat(timespec="minutes"), str(len(v.changes)),
                "yes" if current and current.facts.seq == v.seq
                else "withdrawn" if v.seq in withdrawn else "",
            )  # fmt: skip
    out.print(table)


@app.command()
def acceptances(
    version: Annotated[int, typer.Option(help="The version number (v3 → 3)")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Who has accepted a version, who was only notified, who not yet."""
    from safehold.db import transaction
    from safehold.notices import service as notices

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            rows = notices.standings(session, version)
    except SafeholdError as exc:
        fail(exc.message)
    if fmt == "json":
        items = [
            {"subject_id": str(r.subject_id), "status": r.status,
             "accepted_version": r.accepted_seq, "how": r.how,
             "at": r.at.isoformat() if r.at else None}
            for r in rows
        ]  # fmt: skip
        typer.echo(json.dumps(items))
        return
    if fmt == "csv":
        typer.echo("subject_id,status,accepted_version,how,at")
        for r in rows:
            typer.echo(f"{r.subject_id},{r.status},{r.accepted_seq},{r.how or ''},"
                       f"{r.at.isoformat() if r.at else ''}")  # fmt: skip
        return
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("accepted", "notified", "pending")}
    out.print(f"v{version}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
