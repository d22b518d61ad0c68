"""`safehold`: the command line for operators. Commands call the same use cases as the API.

Each command group lives in its feature package and is imported only when it runs or its own
help is asked for (`cli_group`); the commands here import what they use inside their bodies,
so `safehold --help` imports no feature package (decision 0031)."""

from __future__ import annotations

from typing import Annotated

import typer

from safehold.cli_group import Lazy, lazy_group
from safehold.cli_support import (
    describe_database,
    fail,
    listening_socket_or_exit,
    out,
    policy_note,
    runtime_or_exit,
    settings_or_exit,
    upgrade_or_exit,
)
from safehold.datadir import restrict_umask

# Where each command is, and the line `safehold --help` shows for it without importing it.
COMMANDS = {
    "policy": Lazy("safehold.policy.commands:app", "Check, render and compare policy files."),
    "keys": Lazy("safehold.access.commands:app", "Create, list and revoke API keys."),
    "audit": Lazy("safehold.access.audit_commands:app", "The keyed, hash-chained audit log."),
    "demo": Lazy(
        "safehold.events.commands:demo_command",
        "Fill Safehold with a fictional IPTV customer base, through the API.",
    ),
    "events": Lazy(
        "safehold.events.commands:app", "Usage events: month partitions and their retention."
    ),
    "worker": Lazy(
        "safehold.worker:command",
        "Run the periodic jobs (e-mail delivery, …) until stopped (SIGTERM or Ctrl-C).",
    ),
    "messages": Lazy("safehold.comms.commands:app", "E-mail delivery: status, retries, bounces."),
    "ropa": Lazy(
        "safehold.sharing.commands:ropa_command",
        "Print the record of processing activities (GDPR Art. 30) from the policy and live data.",
    ),
    "sharing": Lazy(
        "safehold.sharing.commands:app",
        "Third-party sharing: recipients and the notices owed to them.",
    ),
    "requests": Lazy(
        "safehold.requests.commands:app", "Data-subject requests: deadlines, erasure, restriction."
    ),
    "retention": Lazy(
        "safehold.retention.commands:app", "Retention: delete what has outlived its period."
    ),
    "promises": Lazy(
        "safehold.promises.commands:app", "Check the policy's promises on the live data."
    ),
    "staff": Lazy("safehold.staff.commands:app", "Staff members of the admin console."),
    "backup": Lazy(
        "safehold.backup.commands:app",
        "Backups that cannot bring an erased person back.",
    ),
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    name="safehold",
    help="Safehold: a privacy policy made true by construction.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold personal data or secrets
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (SAFEHOLD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SAFEHOLD_PORT)")] = None,
    demo: Annotated[
        bool,
        typer.Option(help="Fill an embedded database that holds no one yet with fictional people"),
    ] = True,
    jobs: Annotated[
        bool | None,
        typer.Option(help="Run the worker's jobs in this process (default: on when embedded)"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Server processes on the port (SAFEHOLD_WORKERS; default: 1 embedded, "
            "one per core on PostgreSQL)",
        ),
    ] = None,
) -> None:
    """Apply migrations and serve the API, the pages and the metrics."""
    from rich.panel import Panel

    from safehold import supervisor
    from safehold.access import service as access
    from safehold.backup import commands as backup_commands
    from safehold.db import transaction
    from safehold.events import commands as events_commands
    from safehold.events import jobs as events_jobs
    from safehold.events import refine
    from safehold.logs import configure_logging
    from safehold.notices import service as notices
    from safehold.policy import load_policy
    from safehold.policy.rules import content_hash
    from safehold.vault.epochs import startup_note

    settings = settings_or_exit()
    processes = workers or settings.server_processes
    bind_host, bind_port = host or settings.host, port or settings.port
    listener = listening_socket_or_exit(bind_host, bind_port)  # before anything is created
    configure_logging(settings.log_format, settings.log_level)
    runtime = runtime_or_exit(settings)
    upgrade_or_exit(runtime)
    backup_commands.refuse_if_behind(runtime)  # a restored copy replays erasures first
    events_jobs.ensure_ahead(runtime.sessions, runtime.clock.now())  # event partitions
    with transaction(runtime.sessions) as session:
        notices.ensure_first_version(
            session,
            source=settings.policy_path.read_text(encoding="utf-8"),
            clock=runtime.clock,
            site=settings.base_url,
        )
        runtime.book.load(session)
    file_hash = content_hash(load_policy(settings.policy_path))
    note = policy_note(
        runtime.book, path=settings.policy_path, file_hash=file_hash, now=runtime.clock.now()
    )
    out.print(note, highlight=False, markup=False, soft_wrap=True)
    if settings.is_embedded:
        with transaction(runtime.sessions) as session:
            created = access.ensure_bootstrap_key(
                session, known_purposes=runtime.policy.purpose_ids, clock=runtime.clock
            )
        if created is not None:
            out.print(
                Panel(
                    f"{created.token}\n\nAll scopes, all purposes. Shown once: keep it safe.",
                    title="Admin API key created",
                    expand=False,
                ),
                highlight=False,
            )
    out.print(
        f"Safehold on http://{bind_host}:{bind_port}  (API docs /docs, policy /v1/policy)\n"
        f"database {describe_database(settings)}"
        + (f"\n{processes} server processes" if processes > 1 else ""),
        highlight=False,
    )
    if settings.mail_backend == "console":
        out.print(
            "[red]mail backend 'console': e-mails are printed here, not sent (demo only)[/red]"
        )
    for warning in supervisor.warnings(runtime, processes):
        out.print(f"[red]{warning}[/red]", highlight=False)
    if (epochs_note := startup_note(runtime.vault.provider, "SAFEHOLD_KEK")) is not None:
        out.print(f"[yellow]{epochs_note}[/yellow]", highlight=False)  # docs/vault.md, key epochs
    if processes == 1:  # new User-Agents parsed fully off the request path (decision 0032)
        refine.start(runtime.sessions, runtime.vault.provider.index_key(), runtime.clock)
    if settings.is_embedded and demo and events_commands.demo_pending(runtime):
        events_commands.seed_in_background(runtime, bind_host, bind_port)
    supervisor.serve(
        runtime, listener, host=bind_host, port=bind_port, workers=processes,
        jobs=settings.is_embedded if jobs is None else jobs,
    )  # fmt: skip


@db_app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    from safehold import migrate

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    out.print(f"database at migration {migrate.current_revision(runtime.engine)}")


@db_app.command()
def current() -> None:
    """Print the database's migration and the newest one the code knows."""
    from sqlalchemy.exc import SQLAlchemyError

    from safehold import migrate

    runtime = runtime_or_exit()
    try:
        revision = migrate.current_revision(runtime.engine)
    except SQLAlchemyError as exc:
        fail(
            f"cannot read the database {describe_database(runtime.settings)}: {type(exc).__name__}"
        )
    out.print(f"database: {revision or 'empty'}\ncode:     {migrate.head_revision()}")


@db_app.command()
def check() -> None:
    """Exit 0 when the database is at the newest migration, 1 when it is behind."""
    from safehold import migrate

    runtime = runtime_or_exit()
    if not migrate.is_current(runtime.engine):
        fail("the database is behind the code: run 'safehold db upgrade'", code=1)
    out.print("database is current")


def main() -> None:
    restrict_umask()  # every file a safehold process creates is owner-only (datadir.py)
    app()
