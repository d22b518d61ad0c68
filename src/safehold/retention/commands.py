"""`safehold retention …`: run the retention rules now, or see what a run would do."""

from __future__ import annotations

from typing import Annotated

import typer

from safehold.cli_support import full_table, out, runtime_or_exit, upgrade_or_exit

app = typer.Typer(help="Retention: delete what has outlived its period.", no_args_is_help=True)


@app.command("run")
def run_command(
    dry_run: Annotated[bool, typer.Option(help="Report what is due; change nothing")] = False,
) -> None:
    """Apply every retention rule of the policy and print the report."""
    from rich.progress import Progress

    from safehold.analytics import jobs as analytics_jobs
    from safehold.retention import jobs

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with Progress(transient=True) as progress:
        task = progress.add_task("retention", total=len(jobs.UNITS))
        report = jobs.run(
            runtime, dry_run=dry_run, before_drop=analytics_jobs.before_drop(runtime),
            on_unit=lambda _unit: progress.advance(task),
        )  # fmt: skip
    table = full_table(
        "category", "class", "action", "deleted", "people", "keys", "months", "held back",
        whole={"category"},
    )  # fmt: skip
    for line in report.as_dict()["categories"]:
        held = "; ".join(
            f"{h['rows']} row(s) of {h['people']} person(s): {h['reason']} "
            f"(until {h['until'][:10]})"
            for h in line["held_back"]
        )
        notes = "; ".join(line["notes"])
        table.add_row(
            line["category"], line["retention_class"], line["action"], str(line["deleted"]),
            str(line["people"]), str(line["keys_shredded"]), ", ".join(line["months_dropped"]),
            "; ".join(x for x in (held, notes) if x),
        )  # fmt: skip
    out.print(table)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"retention run at {report.at.isoformat(timespec='seconds')}: {verb} "
              f"{report.work} item(s)", highlight=False)  # fmt: skip
