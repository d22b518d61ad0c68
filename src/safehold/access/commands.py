"""`safehold keys …`: create, list and revoke API keys from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from safehold.access.rules import SCOPES, Actor
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

# The service and the database are imported by the commands that use them: `--help` needs
# neither (cli_group).

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@app.command()
def create(
    name: Annotated[str, typer.Option(help="A name that says who uses the key")],
    scopes: Annotated[list[str], typer.Option(help=f"Comma-separated scopes: {', '.join(SCOPES)}")],
    purposes: Annotated[
        list[str] | None,
        typer.Option(help="Comma-separated purposes the key may use ('*' for all)"),
    ] = None,
) -> None:
    """Create a key and print its secret once; only a hash is stored."""
    from safehold.access import service
    from safehold.db import transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            created = service.create_key(
                session,
                name=name,
                scopes=_split(scopes),
                purposes=_split(purposes or []),
                known_purposes=runtime.policy.purpose_ids,
                clock=runtime.clock,
                actor=Actor("admin", "cli"),
            )
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"Created API key [bold]{created.key.id}[/] ({name}). Its secret, shown once:")
    out.print(created.token, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_(fmt: FormatOption = ListFormat.table) -> None:
    """List keys with their scopes and purposes (never their secrets)."""
    from safehold.access import service
    from safehold.access.schemas import ApiKeyOut
    from safehold.db import transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        keys = service.list_keys(session)
        if fmt is ListFormat.json:
            echo_json(ApiKeyOut.model_validate(k) for k in keys)
            return
        table = full_table("id", "name", "scopes", "purposes", "created", "revoked", whole={"id"})
        for k in keys:
            table.add_row(
                k.id,
                k.name,
                "\n".join(k.scopes),
                "\n".join(k.purposes) or "-",
                k.created_at.isoformat(timespec="seconds"),
                k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
            )
    out.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (not the secret)")]) -> None:
    """Revoke a key; it stops working at once."""
    from safehold.access import service
    from safehold.db import transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            service.revoke_key(session, key_id, clock=runtime.clock)
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"Revoked API key {key_id}.")


@app.command()
def rotate(
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted rotation without a new KEK version")
    ] = False,
) -> None:
    """Re-wrap every data key under a new key-encryption-key version (data is untouched)."""
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        version = runtime.vault.provider.current_version()
        if not resume:
            version = runtime.vault.provider.add_version()
    except SafeholdError as exc:
        fail(exc.message)
    with Progress(transient=True) as bar:
        task = bar.add_task(f"re-wrapping data keys under {version}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = runtime.vault.rotate(runtime.sessions, progress=progress)
    from safehold.access import audit_keys
    from safehold.db import transaction

    with transaction(runtime.sessions) as session:  # the audit keys travel with the KEK
        moved = audit_keys.rewrap(session, runtime.vault.provider)
        left = audit_keys.on_old_kek(session, runtime.vault.provider)
    out.print(
        f"{report.rewrapped} data keys re-wrapped under {report.target_version} "
        f"in {report.batches} batches; {report.remaining} left on older versions; "
        f"{moved} audit keys re-wrapped, {left} left"
    )


@app.command()
def status() -> None:
    """How many data keys each key-encryption-key version wraps."""
    from safehold.db import transaction

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        counts = runtime.vault.key_versions(session)
    current = runtime.vault.provider.current_version()
    table = full_table("KEK version", "data keys", "current", whole={"KEK version"})
    for version in runtime.vault.provider.versions():
        table.add_row(version, str(counts.get(version, 0)), "yes" if version == current else "")
    out.print(table)
