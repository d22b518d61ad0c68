"""SQLite transactions take the write lock up front (security review F1): a transaction that
read and then writes after another connection committed waits its turn instead of failing
with "database is locked"; a transaction marked read-only never queues behind a writer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from safehold.db import make_engine, make_session_factory, reading_only


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path / 'locks.db'}"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def test_a_read_then_write_transaction_waits_for_another_writer_instead_of_failing(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    errors: list[BaseException] = []
    first_read = threading.Event()

    def other_writer() -> None:
        first_read.wait(5)
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE counter SET n = n + 1"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_writer)
    thread.start()
    with sessions() as session, session.begin():
        seen = session.execute(text("SELECT n FROM counter")).scalar_one()
        first_read.set()
        thread.join(0.3)  # the other writer runs now: before F1's fix it committed here
        session.execute(text("UPDATE counter SET n = :n"), {"n": seen + 10})
    thread.join(10)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 11


def test_a_read_only_transaction_does_not_queue_behind_a_writer(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with engine.connect() as writer:
        writer.begin()
        writer.execute(text("UPDATE counter SET n = 5"))  # holds the write lock, uncommitted
        with sessions() as reader:
            reading_only(reader)
            assert reader.execute(text("SELECT n FROM counter")).scalar_one() == 0
        writer.commit()
