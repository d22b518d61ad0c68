"""Erasure racing with ingestion for the same person: no event survives, no data key of an
erased class comes back, and events sent once the erasure has started are refused.

Both on SQLite (a file database, real commits) and on PostgreSQL (a scratch database), with
the ingestion in another thread sending batches as fast as it can while the erasure runs,
and step by step (a batch sent after each committed step of the erasure)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from safehold import migrate
from safehold.config import Settings
from safehold.db import transaction
from safehold.events import service as events
from safehold.events import storage
from safehold.events.models import Login
from safehold.events.schemas import BatchIn
from safehold.requests import jobs, rules
from safehold.runtime import Runtime, build_runtime
from safehold.vault.models import DataKey
from tests.conftest import DEFAULT_POLICY
from tests.integration.requests.support import STAFF, ctx, person, verified


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def committing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A Safehold whose transactions really commit (threads see each other's work)."""
    if request.param == "postgresql":
        runtime, _url = request.getfixturevalue("postgres_runtime")
        yield runtime
        return
    runtime = build_runtime(Settings(data_dir=tmp_path, policy=DEFAULT_POLICY))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def _send(runtime: Runtime, sid: uuid.UUID, n: int = 20) -> list[str]:
    """One batch for the person (a sign-in and searches carrying personal text); the
    outcome of each event: accepted, or the refusal's reason."""
    now = runtime.clock.now()
    batch = BatchIn.model_validate({"events": [
        {"name": "login", "subject_id": str(sid), "properties": {"method": "password"}},
        *({"name": "guide.search", "subject_id": str(sid),
           "timestamp": (now - timedelta(seconds=i)).isoformat(),
           "properties": {"query": f"qzrace {i}", "results": 1}} for i in range(n)),
    ]})  # fmt: skip
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        outcomes = events.ingest(session, ectx, batch, actor=STAFF, received_at=now)
    return [o.refusal.reason.value if o.refusal else o.status for o in outcomes]


def _left(runtime: Runtime, sid: uuid.UUID) -> tuple[int, int, set[str]]:
    e = storage.EVENTS
    with runtime.sessions() as session:
        evts = session.scalar(select(func.count()).where(e.c.subject_id == sid)) or 0
        logins = session.scalar(select(func.count()).where(Login.subject_id == sid)) or 0
        keys = set(
            session.scalars(select(DataKey.retention_class).where(DataKey.subject_id == sid))
        )
    return int(evts), int(logins), keys


def _kept_classes(cert: dict) -> set[str]:
    return {c for item in cert["kept"] for c in item["classes"]}


def test_events_sent_between_the_steps_of_an_erasure(committing: Runtime) -> None:
    runtime = committing
    sid = person(runtime)
    rid = verified(runtime, sid)
    assert set(_send(runtime, sid)) == {"accepted"}
    after: dict[str, set[str]] = {}

    def send_after(step: str) -> None:
        after[step] = set(_send(runtime, sid))

    cert = jobs.erase(runtime.sessions, ctx(runtime), rid, after_step=send_after)
    # From the first step on, the person takes no new data.
    assert after == {step: {"subject_erased"} for step in rules.STEPS}
    assert cert["verification"]["ok"]
    assert cert["outcome"] == "completed"
    evts, logins, keys = _left(runtime, sid)
    assert (evts, logins) == (0, 0)
    assert keys <= _kept_classes(cert)
    assert cert["erased"]["events_deleted"] == 20


def test_ingestion_in_another_thread_while_the_erasure_runs(committing: Runtime) -> None:
    runtime = committing
    sid = person(runtime)
    rid = verified(runtime, sid)
    stop = threading.Event()
    seen: list[set[str]] = []
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            while not stop.is_set():
                seen.append(set(_send(runtime, sid, n=10)))
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    worker = threading.Thread(target=ingest)
    worker.start()
    while not seen and worker.is_alive():  # the race starts with events flowing
        stop.wait(0.01)
    try:
        cert = jobs.erase(runtime.sessions, ctx(runtime), rid)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures
    late = set(_send(runtime, sid))
    assert late == {"subject_erased"}  # late events are refused
    assert {"accepted"} in seen  # the race did overlap accepted ingestion
    # Once refused, never accepted again: the batches flip exactly once.
    flips = [i for i in range(1, len(seen)) if seen[i] != seen[i - 1]]
    assert len(flips) <= 1, seen
    assert cert["verification"]["ok"], cert["verification"]
    evts, logins, keys = _left(runtime, sid)
    assert (evts, logins) == (0, 0)
    assert keys <= _kept_classes(cert)
