"""The `safehold` command group, which imports a command's module only when it is needed.

Every command module imports its feature package, and the feature packages import the
database, the policy and the web app: importing them all made each `safehold` call, `--help`
included, take seconds (issue 20, item 7). Here each command is named with the module that
holds it and the one line `safehold --help` shows for it, so listing the commands imports
none of them, and running one imports only its own (decision 0031).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, NamedTuple

import typer
from typer import _click as click  # the Click that Typer's own group classes are built on
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group


class Lazy(NamedTuple):
    where: str  # "package.module:attribute": a Typer app (a group) or a command function
    summary: str  # what `safehold --help` shows; the command's own first help line (tested)


def load(name: str, lazy: Lazy) -> click.Command:
    """Import the module and make the Click command Typer would have made for it."""
    module, _, attribute = lazy.where.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = get_group(target)
    else:  # a function: a Typer app with that one command is that command
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A group that also holds :class:`Lazy` commands, imported on first use. While its help
    is being written, a lazy command is only its name and summary."""

    lazy: ClassVar[dict[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        if self._listing:
            return TyperCommand(cmd_name, help=self.lazy[cmd_name].summary)
        command = self.commands[cmd_name] = load(cmd_name, self.lazy[cmd_name])
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(commands: dict[str, Lazy]) -> type[LazyGroup]:
    """The group class for `typer.Typer(cls=…)`, holding these lazy commands."""
    return type("SafeholdGroup", (LazyGroup,), {"lazy": commands})
