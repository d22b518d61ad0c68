"""`safehold`: the command line for operators. Commands call the same use cases as the API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.panel import Panel
from sqlalchemy.exc import SQLAlchemyError

from safehold import migrate, worker
from safehold.access import service as access
from safehold.access.audit_commands import app as audit_app
from safehold.access.commands import app as keys_app
from safehold.app import create_app
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
from safehold.comms.commands import app as messages_app
from safehold.datadir import restrict_umask
from safehold.db import transaction
from safehold.events import commands as events_commands
from safehold.events import jobs as events_jobs
from safehold.logs import configure_logging
from safehold.notices import service as notices
from safehold.policy import load_policy
from safehold.policy.commands import app as policy_app
from safehold.policy.rules import content_hash
from safehold.promises.commands import app as promises_app
from safehold.requests.commands import app as requests_app
from safehold.retention.commands import app as retention_app
from safehold.sharing.commands import app as sharing_app
from safehold.sharing.commands import ropa_command
from safehold.staff.commands import app as staff_app

app = typer.Typer(
    name="safehold",
    help="Safehold: a privacy policy made true by construction.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold personal data or secrets
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(messages_app, name="messages")  # e-mail delivery status, retries, bounces
app.command("worker")(worker.command)  # the periodic jobs: e-mail delivery, …
app.add_typer(sharing_app, name="sharing")  # recipients and the notices owed to them
app.command("ropa")(ropa_command)  # the record of processing activities (Art. 30)
app.add_typer(events_commands.app, name="events")  # usage events: partitions, retention
app.command("demo")(events_commands.demo_command)  # a fictional IPTV customer base
app.add_typer(requests_app, name="requests")  # data-subject requests: list --overdue, erase
app.add_typer(retention_app, name="retention")  # retention run [--dry-run]
app.add_typer(promises_app, name="promises")  # promises check [--format json]
app.add_typer(staff_app, name="staff")  # staff members: create-owner, invite, list, remove


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
) -> None:
    """Apply migrations and serve the API, the pages and the metrics."""
    settings = settings_or_exit()
    bind_host, bind_port = host or settings.host, port or settings.port
    listener = listening_socket_or_exit(bind_host, bind_port)  # before anything is created
    configure_logging(settings.log_format, settings.log_level)
    runtime = runtime_or_exit(settings)
    upgrade_or_exit(runtime)
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
        f"database {describe_database(settings)}",
        highlight=False,
    )
    if settings.mail_backend == "console":
        out.print(
            "[red]mail backend 'console': e-mails are printed here, not sent (demo only)[/red]"
        )
    if settings.is_embedded if jobs is None else jobs:
        worker.jobs_in_background(runtime)
    if settings.is_embedded and demo and events_commands.demo_pending(runtime):
        events_commands.seed_in_background(runtime, bind_host, bind_port)
    config = uvicorn.Config(
        create_app(runtime), host=bind_host, port=bind_port, log_config=None,
        # Forwarded headers only from the proxies named (uvicorn's own default believes any
        # from 127.0.0.1): the client address is what the per-client rate limits count.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[listener])


@db_app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    out.print(f"database at migration {migrate.current_revision(runtime.engine)}")


@db_app.command()
def current() -> None:
    """Print the database's migration and the newest one the code knows."""
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
    runtime = runtime_or_exit()
    if not migrate.is_current(runtime.engine):
        fail("the database is behind the code: run 'safehold db upgrade'", code=1)
    out.print("database is current")


def main() -> None:
    restrict_umask()  # every file a safehold process creates is owner-only (datadir.py)
    app()
