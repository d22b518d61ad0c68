"""`safehold worker` as operators run it: real processes, a real database, a real SMTP server.
Two workers on PostgreSQL share the outbox without sending anything twice; a worker killed
mid-batch leaves nothing lost (at least once, with the same Message-ID)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.comms.models import OutboxItem
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, enqueue, register


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {
        "SAFEHOLD_DATA_DIR": str(settings.data_dir),
        "SAFEHOLD_BASE_URL": settings.base_url,
        "SAFEHOLD_MAIL_FROM": settings.mail_from,
        "SAFEHOLD_SMTP_HOST": settings.smtp_host,
        "SAFEHOLD_SMTP_PORT": str(settings.smtp_port),
        "SAFEHOLD_LOG_FORMAT": "json",
    }
    if settings.database_url:
        env["SAFEHOLD_DATABASE_URL"] = settings.database_url
    return env


def start_worker(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(  # noqa: S603 — our own CLI, fixed arguments
            [sys.executable, "-m", "safehold", "worker", *args],
            env=worker_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def events(log: Path) -> list[dict[str, object]]:
    lines = log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def live(
    backend: str, tmp_path: Path, smtp: SmtpServer, request: pytest.FixtureRequest
) -> Iterator[Runtime]:
    """A migrated database that the test and the worker processes both use, committed."""
    url: str | None = None
    if backend == "postgresql":
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make().render_as_string(hide_password=False)
    settings = comms_settings(tmp_path, smtp, database_url=url)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def statuses(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        rows = session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
        return {str(status): int(count) for status, count in rows.all()}


def people(runtime: Runtime, count: int) -> list[uuid.UUID]:
    return [register(runtime, f"Person Number{i}", f"person{i}@example.com") for i in range(count)]


def test_worker_once_delivers_and_exits(live: Runtime, smtp: SmtpServer, tmp_path: Path) -> None:
    ids = people(live, 3)
    enqueue(live, "marketing", ids)
    worker = start_worker(live.settings, tmp_path / "worker.log", "--once")
    assert worker.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    assert statuses(live) == {"sent": 3}
    assert len(smtp.inbox.received) == 3
    logged = events(tmp_path / "worker.log")
    round_ = next(e for e in logged if e["event"] == "outbox_round")
    assert (round_["claimed"], round_["sent"]) == (3, 3)
    text = (tmp_path / "worker.log").read_text()
    assert "example.com" not in text
    assert "Person" not in text


@pytest.mark.postgres
def test_two_workers_on_postgresql_share_the_outbox_without_double_sends(
    smtp: SmtpServer, tmp_path: Path, scratch_postgres: Callable[[], URL]
) -> None:
    url = scratch_postgres().render_as_string(hide_password=False)
    runtime = build_runtime(comms_settings(tmp_path, smtp, database_url=url))
    migrate.upgrade(runtime.engine)
    try:
        message_id = enqueue(runtime, "service_update", people(runtime, 300), text="Hello.")
        smtp.inbox.delay = 0.01  # about 3 s of sending: both workers get their share
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        workers = [start_worker(runtime.settings, log) for log in logs]
        try:
            deadline = time.monotonic() + 120
            while statuses(runtime).get("sent", 0) < 300:
                assert time.monotonic() < deadline, statuses(runtime)
                assert all(w.poll() is None for w in workers), [log.read_text() for log in logs]
                time.sleep(0.2)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            codes = [w.wait(timeout=30) for w in workers]
        assert codes == [0, 0]
        ids = Counter(m["Message-ID"] for m in smtp.inbox.messages())
        assert len(ids) == 300
        assert set(ids.values()) == {1}
        with runtime.sessions() as session:
            by_worker = session.execute(
                select(OutboxItem.claimed_by, func.count())
                .where(OutboxItem.message_id == message_id)
                .group_by(OutboxItem.claimed_by)
            ).all()
        assert len(by_worker) == 2, by_worker  # both processes took part
        assert all(any(e["event"] == "worker_stopped" for e in events(log)) for log in logs)
    finally:
        runtime.close()


def test_a_killed_worker_loses_nothing_and_duplicates_share_a_message_id(
    live: Runtime, smtp: SmtpServer, tmp_path: Path
) -> None:
    ids = people(live, 20)
    enqueue(live, "service_update", ids, text="Hello.")
    smtp.inbox.delay = 0.1
    worker = start_worker(live.settings, tmp_path / "first.log")
    smtp.inbox.wait_for(3, timeout=60)
    worker.send_signal(signal.SIGKILL)  # no clean-up at all
    worker.wait(timeout=30)
    smtp.inbox.delay = 0.0
    assert statuses(live).get("sending", 0) > 0
    with transaction(live.sessions) as session:  # let the dead worker's lease run out now
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.status == "sending")
            .values(next_attempt_at=live.clock.now())
        )
    second = start_worker(live.settings, tmp_path / "second.log", "--once")
    assert second.wait(timeout=60) == 0
    assert statuses(live) == {"sent": 20}
    received = Counter(m["To"] for m in smtp.inbox.messages())
    assert set(received) == {f"person{i}@example.com" for i in range(20)}  # nothing lost
    copies = Counter(m["Message-ID"] for m in smtp.inbox.messages())
    assert len(copies) == 20  # a duplicate, if any, carries the same Message-ID


def test_a_worker_stops_cleanly_on_sigterm(live: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(live.settings, log)
    deadline = time.monotonic() + 30
    while not any(e.get("event") == "worker_started" for e in events(log)):
        assert time.monotonic() < deadline, log.read_text()
        assert worker.poll() is None, log.read_text()
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert [e["event"] for e in events(log)][-2:] == ["worker_stopping", "worker_stopped"]


def test_a_worker_refuses_an_unmigrated_database(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = comms_settings(tmp_path / "empty", smtp)
    worker = start_worker(settings, tmp_path / "worker.log", "--once")
    assert worker.wait(timeout=60) == 2
    assert "safehold db upgrade" in (tmp_path / "worker.log").read_text()
