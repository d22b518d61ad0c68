"""`safehold promises` as its users meet it: the CLI on the demo database (all held, exit 0;
a planted violation, exit 1), the console page and its button, the gauges on /metrics and
the worker's daily job."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from safehold.access.models import AuditEntry
from safehold.cli import app
from safehold.clock import FrozenClock
from safehold.config import load_settings
from safehold.db import transaction
from safehold.promises import jobs, service
from safehold.promises.models import PromiseRun
from safehold.runtime import Runtime, build_runtime
from safehold.worker import registered_jobs
from tests.audit_guards import guards_off
from tests.e2e.conftest import MakeKey, alter_first_audit_entry
from tests.e2e.test_console import post, staff
from tests.e2e.test_events_cli import logging_restored  # noqa: F401 - an autouse fixture
from tests.integration.requests.support import person

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAFEHOLD_LOG_LEVEL", "warning")
    return tmp_path


def test_the_demo_database_holds_every_promise_and_a_planted_violation_exits_1(
    data_dir: Path,
) -> None:
    assert runner.invoke(app, ["demo", "--subjects", "4", "--days", "3"]).exit_code == 0
    held = runner.invoke(app, ["promises", "check", "--format", "json"])
    assert held.exit_code == 0, held.output
    report = json.loads(held.stdout)  # the report alone: log lines go to stderr
    assert report["violated"] == 0
    assert [c["id"] for c in report["checks"]] == list(service.check_ids())
    assert all(c["held"] and c["count"] == 0 for c in report["checks"])

    runtime = build_runtime(load_settings())
    try:
        with transaction(runtime.sessions) as session:  # a database owner edits the log
            guards_off(session)
            session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(action="x"))
    finally:
        runtime.close()
    broken = runner.invoke(app, ["promises", "check"])
    assert broken.exit_code == 1
    assert "VIOLATED" in broken.output
    assert "audit.chain_intact" in broken.output
    assert "1 violated" in broken.output


def test_the_console_page_checks_now_and_shows_held_and_violated(
    client: TestClient, runtime: Runtime, make_key: MakeKey, clock: FrozenClock
) -> None:
    staff(client, make_key, ["audit:read"], [])
    assert "No check has run yet" in client.get("/admin/promises").text
    done = post(client, "/admin/promises", "/admin/promises", {})
    assert done.status_code == 303
    page = client.get("/admin/promises").text
    assert f"{len(service.CHECKS)} held, 0 violated" in page
    assert "by the console" in page
    clock.advance(timedelta(minutes=5))
    sid = person(runtime)
    with transaction(runtime.sessions) as session:
        where = alter_first_audit_entry(session, outcome="x")
    post(client, "/admin/promises", "/admin/promises", {})
    page = client.get("/admin/promises").text
    assert "<strong>violated</strong>" in page
    assert f"audit {where}" in page
    assert str(sid) not in page  # ids of records, and no person on this check
    forged = client.post("/admin/promises", data={}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token: refused


def test_the_gauges_show_the_last_run(
    client: TestClient, runtime: Runtime, clock: FrozenClock
) -> None:
    assert "safehold_promise_violations{" not in client.get("/metrics").text
    jobs.check_and_keep(runtime, trigger="cli")
    text = client.get("/metrics").text
    assert 'safehold_promise_violations{check="audit.chain_intact"} 0.0' in text
    assert "safehold_promises_last_run_timestamp_seconds " in text
    clock.advance(timedelta(minutes=5))
    person(runtime)
    with transaction(runtime.sessions) as session:
        alter_first_audit_entry(session, outcome="x")
    jobs.check_and_keep(runtime, trigger="cli")
    assert 'safehold_promise_violations{check="audit.chain_intact"} 1.0' in (
        client.get("/metrics").text
    )


def test_the_worker_checks_once_a_day_whichever_process_checked_last(
    runtime: Runtime, clock: FrozenClock
) -> None:
    assert "promises.daily" in [j.name for j in registered_jobs()]

    def runs() -> int:
        with runtime.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(PromiseRun)) or 0)

    assert jobs.daily(runtime) == 0
    assert runs() == 1
    clock.advance(timedelta(hours=23))
    assert jobs.daily(runtime) == 0
    assert runs() == 1
    clock.advance(timedelta(hours=2))
    jobs.daily(runtime)
    assert runs() == 2
