"""`backup create` on SQLite while another connection keeps writing: the copy is made page
by page from one read snapshot, so it finishes and is consistent (its audit chains verify)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from safehold import migrate
from safehold.access import audit
from safehold.access.rules import Actor
from safehold.backup import archive
from safehold.clock import FrozenClock
from safehold.db import make_engine, make_session_factory, transaction
from tests.conftest import FROZEN_AT, TEST_AUDIT_KEY


def test_a_copy_taken_under_writes_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path}/safehold.db"))
    migrate.upgrade(engine)
    sessions = make_session_factory(engine, audit_key=TEST_AUDIT_KEY)
    clock = FrozenClock(FROZEN_AT)
    actor = Actor("system", "writer")

    def append(n: int) -> None:
        with transaction(sessions) as session:
            for _ in range(n):
                audit.record(
                    session, actor=actor, action="test.write", subject_id=None, categories=[],
                    purpose=None, outcome="ok", clock=clock,
                )  # fmt: skip

    append(2_000)  # enough pages that a one-page step takes many steps
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:
        while not stop.is_set():
            append(5)
            written[0] += 5

    monkeypatch.setattr(archive, "PAGES_PER_STEP", 1)
    steps: list[int] = []
    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        made = archive.create(
            engine, tmp_path / "backups", now=FROZEN_AT, keys="test", ledger=tmp_path / "l",
            progress=lambda done, _total: steps.append(done),
        )  # fmt: skip
    finally:
        stop.set()
        writer.join()
    assert len(steps) > 10  # it went step by step
    assert written[0] > 0  # and the writer went on meanwhile
    copy = make_engine(make_url(f"sqlite+pysqlite:///{made.database_file}"))
    try:
        with transaction(make_session_factory(copy, audit_key=TEST_AUDIT_KEY)) as session:
            result = audit.verify(session)
        assert result.broken is None
        assert result.checked == made.manifest["audit"]["entries"]
    finally:
        copy.dispose()
        engine.dispose()
