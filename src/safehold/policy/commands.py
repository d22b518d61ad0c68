"""`safehold policy …`: check, render and diff policy files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from safehold.cli_support import err, fail, out, settings_or_exit
from safehold.policy import Policy, PolicyFileError, diff_policies, load_policy
from safehold.policy.render import render_html, render_markdown

app = typer.Typer(help="Check, render and compare policy files.", no_args_is_help=True)


class Format(StrEnum):
    md = "md"
    html = "html"


def _load(path: Path) -> Policy:
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
    result = diff_policies(_load(old), _load(new))
    if not result.changes:
        out.print("no rule changes")
        return
    table = Table("change", "what", "class")
    for change in result.changes:
        table.add_row(change.kind, change.description, str(change.change_class))
    out.print(table)
    out.print(f"change class: [bold]{result.change_class}[/]")
