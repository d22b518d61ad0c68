"""`safehold messages …`: delivery status, retries, bounces and unsubscribe requests by mail."""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from safehold.access.rules import Actor
from safehold.cli_support import fail, full_table, out, runtime_or_exit, upgrade_or_exit
from safehold.comms import rules
from safehold.errors import SafeholdError

if TYPE_CHECKING:
    from safehold.runtime import Runtime

# The services and the database are imported by the commands that use them: `--help` needs
# neither (cli_group).

app = typer.Typer(help="E-mail delivery: status, retries, bounces.", no_args_is_help=True)
CLI_ACTOR = Actor("admin", "cli")
Kind = Annotated[
    rules.SuppressionKind,
    typer.Option(help="hard_bounce (no more mail at all) or complaint (no more marketing)"),
]


def _runtime() -> Runtime:
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    return runtime


def _message_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        fail("that is not a message id")


@app.command()
def status(message_id: Annotated[str, typer.Argument(help="The message id")]) -> None:
    """Delivery counts of a message, per status and per reason."""
    from safehold.comms import service
    from safehold.db import transaction

    runtime = _runtime()
    try:
        with transaction(runtime.sessions) as session:
            view = service.view(session, _message_id(message_id))
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"{view.message.kind} ({view.message.purpose}), {view.total} recipient(s)")
    table = full_table("status", "recipients")
    for name, count in view.counts.items():
        table.add_row(name, str(count))
    out.print(table)
    if view.reasons:
        reasons = full_table("reason", "recipients")
        for name, count in view.reasons.items():
            reasons.add_row(name, str(count))
        out.print(reasons)


@app.command()
def retry(message_id: Annotated[str, typer.Argument(help="The message id")]) -> None:
    """Queue a message's failed deliveries again (after fixing the SMTP settings, say)."""
    from safehold.comms import service
    from safehold.db import transaction

    runtime = _runtime()
    try:
        with transaction(runtime.sessions) as session:
            count = service.requeue_failed(session, _message_id(message_id), clock=runtime.clock)
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"queued {count} failed deliver{'y' if count == 1 else 'ies'} again")


@app.command()
def bounce(
    emails: Annotated[
        list[str], typer.Argument(help="Addresses, or '-' to read one per line from stdin")
    ],
    kind: Kind = rules.SuppressionKind.HARD_BOUNCE,
) -> None:
    """Record hard bounces or complaints reported by the mail provider. Only a keyed hash
    of each address is kept; mail still pending to it stops."""
    from safehold.comms import suppression
    from safehold.db import transaction

    if kind is rules.SuppressionKind.ERASED:
        fail("erased addresses are suppressed by erasure itself")
    addresses = [line.strip() for line in sys.stdin] if emails == ["-"] else emails
    addresses = [a for a in addresses if a]
    runtime = _runtime()
    new = invalid = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("recording", total=len(addresses))
        for address in addresses:
            try:
                with transaction(runtime.sessions) as session:
                    new += suppression.record_report(
                        session, runtime.vault, email=address, kind=kind, source="cli",
                        actor=CLI_ACTOR, clock=runtime.clock,
                    )  # fmt: skip
            except SafeholdError:
                invalid += 1  # never echo the address: it is personal data
            progress.advance(task)
    out.print(
        f"{new} new, {len(addresses) - new - invalid} already listed, {invalid} not valid ({kind})"
    )
    if invalid:
        raise typer.Exit(1)


@app.command()
def unsuppress(
    email: Annotated[str, typer.Argument(help="The address")],
    kind: Kind = rules.SuppressionKind.HARD_BOUNCE,
) -> None:
    """Take an address off the suppression list (a bounce reported by mistake)."""
    from safehold.comms import suppression
    from safehold.db import transaction
    from safehold.subjects.rules import normalise_email
    from safehold.vault.service import EMAIL_INDEX

    runtime = _runtime()
    try:
        index = runtime.vault.index(EMAIL_INDEX, normalise_email(email))
    except SafeholdError as exc:
        fail(exc.message)
    with transaction(runtime.sessions) as session:
        removed = suppression.remove(
            session, email_index=index, kind=kind, actor=CLI_ACTOR, clock=runtime.clock
        )
    out.print("removed" if removed else "that address was not on the list for that kind")


@app.command()
def unsubscribe(
    token: Annotated[str, typer.Argument(help="The token, or the request's whole subject line")],
) -> None:
    """Act on an unsubscribe request that came by e-mail (the List-Unsubscribe mailto):
    the token is in its subject line."""
    from safehold.comms import preferences, service
    from safehold.db import transaction

    runtime = _runtime()
    ctx = service.context(runtime)
    try:
        with transaction(runtime.sessions) as session:
            changed = preferences.unsubscribe(
                session,
                runtime.vault,
                (token.split() or [""])[-1],
                channel="reply",
                clock=runtime.clock,
                policy_version=ctx.policy_label(),
            )
    except SafeholdError as exc:
        fail(exc.message)
    out.print("unsubscribed" if changed else "already unsubscribed: nothing changed")
