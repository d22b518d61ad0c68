"""What every CLI command shares: one-line failures with exit code 2, settings, runtime.

Imported by every command module, so `safehold <command> --help` must not pay for the
database, the settings or the policy: those are imported inside the functions that use them
(tests/unit/test_cli_imports.py checks what a `--help` imports)."""

from __future__ import annotations

import json
import socket
from collections.abc import Collection, Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table

if TYPE_CHECKING:
    from pydantic import BaseModel

    from safehold.config import Settings
    from safehold.notices.book import PolicyBook
    from safehold.runtime import Runtime

out = Console()
err = Console(stderr=True, soft_wrap=True)  # a failure is one line, however narrow

EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def full_table(*headers: str, whole: Collection[str] = ()) -> Table:
    """A table that shows every character of every cell. Rich cuts a cell too wide for its
    column to "…", and printed ids so cut could not be pasted into the next command (issue
    20, item 7). The ``whole`` columns — ids — are never wrapped; the others make room by
    wrapping, and fold a word longer than their width onto the next line. Only a terminal
    narrower than the ids themselves (and the borders) still cuts one, ending it in "…"."""
    unknown = set(whole) - set(headers)
    if unknown:
        raise ValueError(f"no column {sorted(unknown)}")
    return Table(
        *(
            Column(h, no_wrap=True, overflow="ellipsis")
            if h in whole
            else Column(h, overflow="fold")
            for h in headers
        ),
    )


class ListFormat(StrEnum):
    table = "table"  # for people
    json = "json"  # for programs: the API's own schema, so the keys are as stable as the API's


FormatOption = Annotated[
    ListFormat,
    typer.Option("--format", help="table, or json (a list of objects, as the API answers)"),
]


def echo_json(items: Iterable[BaseModel]) -> None:
    """A JSON list on standard output, nothing else (a log line goes to standard error)."""
    typer.echo(json.dumps([item.model_dump(mode="json") for item in items], indent=2))


def settings_or_exit() -> Settings:
    from safehold.config import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))


def runtime_or_exit(settings: Settings | None = None) -> Runtime:
    from safehold.policy import PolicyFileError
    from safehold.runtime import build_runtime
    from safehold.vault.errors import KeyProviderError

    settings = settings or settings_or_exit()
    try:
        return build_runtime(settings)
    except PolicyFileError as exc:
        for issue in exc.issues:
            err.print(str(issue), highlight=False, markup=False)
        fail(f"the policy file {settings.policy_path} has {len(exc.issues)} problem(s)")
    except KeyProviderError as exc:
        fail(exc.message)


def describe_database(settings: Settings) -> str:
    return settings.database.render_as_string(hide_password=True)


def upgrade_or_exit(runtime: Runtime) -> None:
    """Apply migrations; an unreachable or broken database is a one-line error."""
    from sqlalchemy.exc import SQLAlchemyError

    from safehold import migrate

    try:
        migrate.upgrade(runtime.engine, audit_key=runtime.audit_key())
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        fail(f"cannot use the database {describe_database(runtime.settings)}: {reason}")


def listening_socket_or_exit(host: str, port: int) -> socket.socket:
    """Bind the server's socket before anything else happens: a busy port is a one-line
    error while nothing — database, admin key, demo — has been created yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; nothing was created. "
            "Choose another port with --port or SAFEHOLD_PORT"
        )
    sock.set_inheritable(True)
    return sock


def policy_note(book: PolicyBook, *, path: Path, file_hash: str, now: datetime) -> str:
    """What `serve` says about the policy at start: the version in force, and how the
    SAFEHOLD_POLICY file relates to the published versions. The file is read only to publish
    v1 on a new database; after that the versions in the database are the policy."""
    current = book.in_force(now)
    if current is None:  # no version in force yet (v1 is published at start, so rare)
        return f"policy: {path} (no version published yet)"
    seq = current.facts.seq
    lines = [f"policy in force: v{seq}"]
    upcoming = [v for v in book.facts() if v.seq > seq and v.effective_at > now]
    lines += [f"v{v.seq} takes effect {v.effective_at:%Y-%m-%d %H:%M} UTC" for v in upcoming]
    same = [s for s in book.seqs() if (v := book.version(s)) and v.content_hash == file_hash]
    if seq in same:
        lines.append(f"{path} (SAFEHOLD_POLICY) is the text of v{seq}")
    elif same:
        lines.append(
            f"{path} (SAFEHOLD_POLICY) is the text of v{same[-1]}, an earlier version: the file "
            "is read only to publish v1 on a new database; publishing it again would bring "
            f"v{same[-1]}'s rules back"
        )
    else:
        lines.append(
            f"{path} (SAFEHOLD_POLICY) matches no published version: the file is read only to "
            f"publish v1 on a new database; 'safehold policy publish {path}' would make it the "
            f"next version, replacing v{book.seqs()[-1]}'s rules"
        )
    return "\n".join(lines)
