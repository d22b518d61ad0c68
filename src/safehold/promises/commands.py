"""`safehold promises check`: every promise the policy makes, checked on the live database."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from safehold.cli_support import full_table, out, runtime_or_exit, upgrade_or_exit

app = typer.Typer(help="Check the policy's promises on the live data.", no_args_is_help=True)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command("check")
def check(
    format_: Annotated[Format, typer.Option("--format", help="text (a table) or json")] = (
        Format.TEXT
    ),
) -> None:
    """Run every check; exit 1 when any promise is violated. Prints ids, never personal data."""

    from safehold.logs import configure_logging
    from safehold.promises.jobs import check_and_keep

    runtime = runtime_or_exit()
    # Log lines (one per violation, one per run) go to stderr, so stdout is only the report.
    configure_logging(runtime.settings.log_format, runtime.settings.log_level)
    upgrade_or_exit(runtime)
    row, results = check_and_keep(runtime, trigger="cli")
    if format_ is Format.JSON:
        document = {
            "run_id": str(row.id), "started_at": row.started_at.isoformat(),
            "violated": row.violated, "checks": [r.as_dict() for r in results],
        }  # fmt: skip
        typer.echo(json.dumps(document, indent=2))
    else:
        table = full_table("check", "result", "count", "examples", "promise", whole={"examples"})
        for r in results:
            table.add_row(
                r.id, "held" if r.held else "[red]VIOLATED[/red]", str(r.count),
                "\n".join(r.examples), r.promise,
            )  # fmt: skip
        out.print(table)
        out.print(f"{len(results) - row.violated} held, {row.violated} violated", highlight=False)
    if row.violated:
        raise typer.Exit(1)
