"""What every CLI command shares: one-line failures with exit code 2, settings, runtime."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from safehold import migrate
from safehold.config import Settings, SettingsError, load_settings
from safehold.policy import PolicyFileError
from safehold.runtime import Runtime, build_runtime
from safehold.vault.errors import KeyProviderError

out = Console()
err = Console(stderr=True)

EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))


def runtime_or_exit(settings: Settings | None = None) -> Runtime:
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
    try:
        migrate.upgrade(runtime.engine, audit_key=runtime.audit_key())
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        fail(f"cannot use the database {describe_database(runtime.settings)}: {reason}")
