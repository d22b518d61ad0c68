"""`safehold events …` (partitions and retention of usage events) and `safehold demo`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from safehold.access.rules import Actor
from safehold.cli_support import fail, full_table, out, runtime_or_exit, upgrade_or_exit

if TYPE_CHECKING:
    from safehold.access.service import CreatedKey
    from safehold.events.demo import Summary
    from safehold.runtime import Runtime

# The jobs, the database, the HTTP client and the server are imported by the commands that
# use them: `--help` needs none of them (cli_group).

app = typer.Typer(help="Usage events: month partitions and their retention.", no_args_is_help=True)
DEMO_SCOPES = ("events:write", "subjects:write")
DEMO_PURPOSES = ("service_provision",)  # registering people serves the contract
# What `safehold serve` puts into an empty demo database: enough people and days that the
# k-anonymous reports (k = 10) have released cells and a whole ended month to show.
DEMO_SUBJECTS, DEMO_DAYS = 60, 45


@app.command()
def partitions() -> None:
    """List the month partitions and how many events each holds."""
    from sqlalchemy import func, select

    from safehold.db import transaction
    from safehold.events import rules, storage

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    table = full_table("month", "table", "events", whole={"month", "table"})
    with transaction(runtime.sessions) as session:
        for month in storage.months(session):
            name = rules.partition_name(month)
            count = session.scalar(select(func.count()).select_from(storage.month_table(name)))
            table.add_row(month.strftime("%Y-%m"), name, str(count))
    out.print(table)


@app.command()
def ensure(
    ahead: Annotated[
        int | None,
        typer.Option(help="Months to prepare beyond this one (default: as the worker keeps ready)"),
    ] = None,
) -> None:
    """Create this month's partition and the next ones (ingestion also does it on demand)."""
    from safehold.events import jobs

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    created = jobs.ensure_ahead(
        runtime.sessions, runtime.clock.now(), jobs.MONTHS_AHEAD if ahead is None else ahead
    )
    out.print(f"created {len(created)} partition(s): {_months(created)}")


@app.command()
def expire(
    drop_months: Annotated[
        bool, typer.Option(help="Also drop months past retention (after aggregating them)")
    ] = False,
) -> None:
    """Clear addresses past their period; with --drop-months,
    drop whole months whose events are past retention."""
    from safehold.db import transaction
    from safehold.events import jobs

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    now, policy = runtime.clock.now(), runtime.policy
    with transaction(runtime.sessions) as session:
        cleared = jobs.expire_ips(session, policy, now)
        dropped = jobs.drop_expired_months(session, policy, now) if drop_months else []
    out.print(f"addresses cleared: {cleared}")
    if drop_months:
        out.print(f"months dropped: {_months(dropped)}")


def _months(months: list[date]) -> str:
    return ", ".join(m.strftime("%Y-%m") for m in months) or "none"


# --- demo data ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(runtime: Runtime) -> Iterator[str]:
    """Safehold on a loopback port in this process, for the demo to talk HTTP to."""
    import uvicorn

    from safehold.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def fill(
    base_url: str, token: str, *, subjects: int, days: int,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:  # fmt: skip
    """Wait for Safehold at ``base_url`` to be ready, then send it the demo data."""
    import httpx

    from safehold.client import Client
    from safehold.events import demo

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    with Client(base_url, token) as client:
        return demo.generate(client, subjects=subjects, days=days, progress=progress)


def demo_command(
    subjects: Annotated[int, typer.Option(min=1, max=100_000, help="People to invent")] = 50,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of viewing to send")] = 7,
    url: Annotated[
        str | None, typer.Option(help="A running Safehold (default: start one in-process)")
    ] = None,
    key: Annotated[str | None, typer.Option(help="API key for --url (events:write, "
                                                 "subjects:write, service_provision)")] = None,
) -> None:  # fmt: skip
    """Fill Safehold with a fictional IPTV customer base, through the API."""
    from rich.progress import Progress

    from safehold.client import SafeholdAPIError, SafeholdUnavailable

    if url is not None and key is None:
        fail("--url needs --key: an API key with events:write and subjects:write")
    with Progress(transient=True) as bar:
        task = bar.add_task("demo data", total=subjects * (1 + days))

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            if url is not None and key is not None:
                summary = fill(url, key, subjects=subjects, days=days, progress=step)
            else:
                summary = _fill_here(subjects, days, step)
        except (SafeholdAPIError, SafeholdUnavailable) as exc:
            fail(f"the demo could not be sent: {exc}")
    out.print(describe(summary))


def _fill_here(subjects: int, days: int, step: Callable[[int, int], None]) -> Summary:
    from safehold.logs import configure_logging

    runtime = runtime_or_exit()
    configure_logging(runtime.settings.log_format, "warning")  # no access log under the bar
    upgrade_or_exit(runtime)
    created = _demo_key(runtime, Actor("admin", "cli"))
    try:
        with _serving(runtime) as base_url:
            return fill(base_url, created.token, subjects=subjects, days=days, progress=step)
    finally:
        _revoke(runtime, created)


def _demo_key(runtime: Runtime, actor: Actor) -> CreatedKey:
    """A key for the demo only (people and events, nothing else), revoked when it is done."""
    from safehold.access import service as access
    from safehold.db import transaction

    with transaction(runtime.sessions) as session:
        return access.create_key(
            session, name="demo", scopes=list(DEMO_SCOPES), purposes=list(DEMO_PURPOSES),
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock, actor=actor,
        )  # fmt: skip


def _revoke(runtime: Runtime, created: CreatedKey) -> None:
    from safehold.access import service as access
    from safehold.db import transaction

    with transaction(runtime.sessions) as session:
        access.revoke_key(session, created.key.id, clock=runtime.clock)


def demo_pending(runtime: Runtime) -> bool:
    """Whether the demo is still to be filled: the database holds no person yet (not one
    was ever registered). A first start that stopped before the demo — a busy port, a
    Ctrl-C — leaves it pending, so the next start fills it (decision 0031)."""
    from sqlalchemy import func, select

    from safehold.db import transaction
    from safehold.subjects.models import Subject

    with transaction(runtime.sessions) as session:
        return not session.scalar(select(func.count()).select_from(Subject))


def describe(summary: Summary) -> str:
    refused = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.rejected.items()))
    return (
        f"demo data: {summary.people} people, {summary.sent} events sent, "
        f"{summary.accepted} accepted" + (f", refused: {refused}" if refused else "")
    )


def seed_in_background(runtime: Runtime, host: str, port: int) -> threading.Thread:
    """`safehold serve` on a database that holds no one yet: once it listens, send it a small
    fictional customer base (so a new user sees a living system), without delaying start.
    It uses a key of its own (people and events only), revoked when the demo is in."""
    import httpx

    from safehold.client import SafeholdAPIError, SafeholdUnavailable

    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - comparing only
    out.print(
        f"filling the empty demo database: {DEMO_SUBJECTS} fictional people, {DEMO_DAYS} days "
        "of viewing (start with --no-demo to skip)",
        highlight=False,
    )
    created = _demo_key(runtime, Actor("system", "serve"))

    def run() -> None:
        try:
            summary = fill(
                f"http://{local}:{port}", created.token, subjects=DEMO_SUBJECTS, days=DEMO_DAYS
            )
        except (SafeholdAPIError, SafeholdUnavailable, httpx.HTTPError) as exc:
            out.print(f"demo data not sent: {type(exc).__name__}", highlight=False)
            return
        finally:
            _revoke(runtime, created)
        out.print(describe(summary), highlight=False)
        if summary.example_email:
            out.print(
                f"privacy center: http://{local}:{port}/me — sign in as "
                f"{summary.example_email} (a fictional demo person; the code is e-mailed)\n"
                f"admin console: http://{local}:{port}/admin — sign in with the admin API key",
                highlight=False,
            )

    thread = threading.Thread(target=run, name="demo-data", daemon=True)
    thread.start()
    return thread
