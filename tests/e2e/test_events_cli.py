"""`safehold demo` and `safehold events …`: a fictional IPTV customer base sent through the
client to an in-process Safehold, then the month partitions and the retention jobs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select
from typer.testing import CliRunner

from safehold.access.models import ApiKey
from safehold.cli import app
from safehold.config import load_settings
from safehold.events import storage
from safehold.events.models import Login, SubjectDevice
from safehold.runtime import build_runtime
from safehold.subjects.models import Subject

runner = CliRunner()


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """`safehold demo` configures logging for the process; leave it as it was found."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).disabled for name in ("uvicorn.access",)}
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level
    for name, disabled in quiet.items():
        logging.getLogger(name).disabled = disabled


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAFEHOLD_LOG_LEVEL", "warning")
    return tmp_path


def test_demo_fills_safehold_through_the_api_and_revokes_its_key() -> None:
    result = runner.invoke(app, ["demo", "--subjects", "4", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "demo data: 4 people" in result.output
    runtime = build_runtime(load_settings())
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) >= 4
        events = session.scalar(select(func.count()).select_from(storage.EVENTS)) or 0
        assert events > 0
        assert session.scalar(select(func.count()).select_from(Login)) > 0
        types = set(session.scalars(select(SubjectDevice.device_type)))
        assert types <= {"smart_tv", "set_top_box", "smartphone", "tablet", "desktop", "unknown"}
        demo_keys = session.scalars(select(ApiKey).where(ApiKey.name == "demo")).all()
        assert [k.revoked_at is not None for k in demo_keys] == [True]
    runtime.close()

    listed = runner.invoke(app, ["events", "partitions"])
    assert listed.exit_code == 0, listed.output
    assert "events_" in listed.output
    expired = runner.invoke(app, ["events", "expire", "--drop-months"])
    assert expired.exit_code == 0, expired.output
    assert "months dropped: none" in expired.output


def test_demo_against_a_url_needs_a_key() -> None:
    result = runner.invoke(app, ["demo", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--url needs --key" in result.output


def test_partitions_can_be_made_ahead() -> None:
    result = runner.invoke(app, ["events", "ensure", "--ahead", "3"])
    assert result.exit_code == 0, result.output
    assert "created 4 partition(s)" in result.output
    again = runner.invoke(app, ["events", "ensure"])
    assert "created 0 partition(s): none" in again.output
