"""`safehold --help`, and the help of every command, import no database, web or server code.

Issue 20 (item 7): every `safehold` call took seconds to start, `--help` included, because
cli.py imported every feature package, and with them SQLAlchemy, FastAPI and the app. This is
a test of what is imported, not of time: a busy machine neither passes nor fails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from safehold.cli import COMMANDS, app
from safehold.cli_group import load

# What no help may import: the database, the web framework, the server, the HTTP client,
# the app and what builds a runtime (settings, engine).
HEAVY = (
    "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "httpx",
    "safehold.app", "safehold.db", "safehold.runtime", "safehold.config", "safehold.migrate",
)  # fmt: skip
# All of Safehold that `safehold --help` may import: no feature package at all.
TOP_LEVEL = {"safehold", "safehold.cli", "safehold.cli_group", "safehold.cli_support",
             "safehold.datadir"}  # fmt: skip

# Runs each `safehold …` in one process, in order, and writes the modules each one imported
# first. A module any of them imported appears under exactly one of them.
PROBE = """
import json, sys
where, calls, report = sys.argv[1], json.loads(sys.argv[2]), {}
before = set(sys.modules)
from safehold.cli import main
for args in calls:
    sys.argv = ["safehold", *args]
    try:
        main()
    except SystemExit:
        pass
    report[" ".join(args) or "(no arguments)"] = sorted(set(sys.modules) - before)
    before = set(sys.modules)
with open(where, "w") as out:
    json.dump(report, out)
"""


def every_help() -> list[list[str]]:
    """`--help` of safehold, of each command and of each command of a group."""
    calls = [["--help"], []]
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    ctx = typer.Context(root)
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        calls.append([name, "--help"])
        if isinstance(command, typer.core.TyperGroup):
            calls += [[name, sub, "--help"] for sub in command.list_commands(ctx)]
    return calls


def imported_by(calls: list[list[str]], tmp_path: Path) -> dict[str, list[str]]:
    report = tmp_path / "imports.json"
    subprocess.run(  # noqa: S603 - this Python, a fixed probe, arguments built here
        [sys.executable, "-c", PROBE, str(report), json.dumps(calls)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    found: dict[str, list[str]] = json.loads(report.read_text())
    return found


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]


def test_safehold_help_imports_no_feature_package(tmp_path: Path) -> None:
    report = imported_by([["--help"]], tmp_path)
    ours = {m for m in report["--help"] if m.split(".")[0] == "safehold"}
    assert ours <= TOP_LEVEL, sorted(ours - TOP_LEVEL)
    assert not heavy(report["--help"])


def test_no_help_imports_the_database_the_web_or_the_app(tmp_path: Path) -> None:
    calls = every_help()
    assert len(calls) > 40  # every command group, with each of its commands
    report = imported_by(calls, tmp_path)
    assert len(report) == len(calls)
    offenders = {call: heavy(modules) for call, modules in report.items() if heavy(modules)}
    assert not offenders


def test_the_listed_summary_is_each_command_s_own_first_help_line() -> None:
    for name, lazy in COMMANDS.items():
        command = load(name, lazy)
        assert command.name == name
        assert (command.help or "").strip().splitlines()[0] == lazy.summary, name


def test_a_listed_command_runs_as_itself() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert name in listed.output
    keys = runner.invoke(app, ["keys", "--help"])
    assert keys.exit_code == 0
    assert "revoke" in keys.output
    unknown = runner.invoke(app, ["keyz"])
    assert unknown.exit_code == 2
