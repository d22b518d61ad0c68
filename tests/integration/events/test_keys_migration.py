"""Migration 0030 keeps every existing event's idempotency: events, sign-ins and sign-outs
written with receipts (the shape before it) are duplicates when retried after it, an event
its slow clock filed in the next month is moved into the month a retry names, and the
receipts are gone. Both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import URL, make_url

from safehold import migrate
from safehold.db import make_engine, make_session_factory
from safehold.events import rules, storage
from safehold.events.models import Login

OLD = (
    "event_id, occurred_at, client_time, received_at, subject_id, anonymous_index, name, "
    "category, is_bot"
)
APRIL = date(2026, 4, 1)
MARCH = date(2026, 3, 1)
MONTH_END = datetime(2026, 4, 1, tzinfo=UTC)
INDEX = "ab" * 32  # a device's blind index (hex), as the vault makes them


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('keys') / 'k.db'}")
    else:
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make()
    found = make_engine(url)
    migrate.upgrade(found, "0027")
    yield found
    found.dispose()


def _old_month(conn: Any, month: date) -> None:
    """A month partition as migration 0005 and the storage before 0030 made it."""
    name = rules.partition_name(month)
    conn.execute(
        text("INSERT INTO event_partitions (name, month, created_at) VALUES (:n, :m, :t)"),
        {"n": name, "m": month, "t": MONTH_END},
    )
    if conn.dialect.name == "postgresql":
        start, end = rules.month_bounds(month)
        conn.exec_driver_sql(
            f"CREATE TABLE {name} PARTITION OF events "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
        return
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (event_id CHAR(32) NOT NULL, occurred_at DATETIME NOT NULL, "
        "client_time DATETIME, received_at DATETIME NOT NULL, subject_id CHAR(32), "
        "anonymous_index VARCHAR(64), name VARCHAR(64) NOT NULL, category VARCHAR(64) NOT NULL, "
        "properties JSON, personal BLOB, retention_class VARCHAR(64), device_type VARCHAR(16), "
        "os_family VARCHAR(40), os_major VARCHAR(16), browser_family VARCHAR(40), "
        "browser_major VARCHAR(16), is_bot BOOLEAN NOT NULL, ip VARCHAR(64))"
    )


def _sqlite_view(conn: Any) -> None:
    conn.exec_driver_sql("DROP VIEW events")
    conn.exec_driver_sql(
        "CREATE VIEW events AS SELECT * FROM events_202603 UNION ALL SELECT * FROM events_202604"
    )


def _old_event(conn: Any, month: date, values: dict[str, Any]) -> None:
    table = storage.EVENTS if conn.dialect.name == "postgresql" else None
    name = "events" if table is not None else rules.partition_name(month)
    params = {**values, "name": "channel.play", "category": "usage.action", "is_bot": False}
    for key in ("event_id", "subject_id"):
        if params.get(key) is not None:
            params[key] = params[key] if table is not None else params[key].hex
    for key in ("occurred_at", "client_time", "received_at"):
        if params.get(key) is not None and table is None:
            params[key] = params[key].strftime("%Y-%m-%d %H:%M:%S.%f")
    placeholders = ", ".join(f":{c.strip()}" for c in OLD.split(","))
    conn.execute(text(f"INSERT INTO {name} ({OLD}) VALUES ({placeholders})"), params)  # noqa: S608
    conn.execute(
        text("INSERT INTO event_receipts (event_id, occurred_at) VALUES (:e, :t)"),
        {"e": params["event_id"], "t": params["occurred_at"]},
    )


def test_events_stay_duplicates_across_the_migration(engine: Engine) -> None:
    ada = uuid.uuid4()
    plain, anonymous, slow = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    slow_sent = MONTH_END - 20 * timedelta(seconds=1)  # the box's clock: 40 s slow
    slow_true = MONTH_END + 20 * timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subjects (id, status, policy_version_shown, created_at, "
                "last_activity_at) VALUES (:i, 'active', 'v1', :t, :t)"
            ),
            {"i": ada if conn.dialect.name == "postgresql" else ada.hex, "t": MONTH_END},
        )
        _old_month(conn, MARCH)
        _old_month(conn, APRIL)
        if conn.dialect.name == "sqlite":
            _sqlite_view(conn)
        mid = MONTH_END - timedelta(days=10)
        _old_event(
            conn,
            MARCH,
            {
                "event_id": plain,
                "occurred_at": mid,
                "client_time": mid,
                "received_at": mid,
                "subject_id": ada,
                "anonymous_index": None,
            },
        )
        _old_event(
            conn,
            MARCH,
            {
                "event_id": anonymous,
                "occurred_at": mid,
                "client_time": mid,
                "received_at": mid,
                "subject_id": None,
                "anonymous_index": INDEX,
            },
        )
        _old_event(
            conn,
            APRIL,
            {
                "event_id": slow,
                "occurred_at": slow_true,
                "client_time": slow_sent,
                "received_at": slow_true,
                "subject_id": ada,
                "anonymous_index": None,
            },
        )
    migrate.upgrade(engine)
    assert "event_receipts" not in inspect(engine).get_table_names()
    with make_session_factory(engine).begin() as session:
        (moved,) = [
            r for r in session.execute(select(storage.EVENTS)).mappings() if r["event_id"] == slow
        ]
        assert (moved["month"], moved["occurred_at"]) == (
            MARCH,
            MONTH_END - timedelta(microseconds=1),
        )
        # What ingestion computes for a retry of each event finds it: nothing is stored again.
        retries = []
        for event_id, owner, sent, occurred in (
            (plain, ada, mid, mid),
            (anonymous, storage.owner_of(None, INDEX), mid, mid),
            (slow, ada, slow_sent, slow_true + timedelta(seconds=3)),
        ):
            filing = rules.file_event(sent, event_id, occurred, occurred)
            assert filing is not None
            retries.append(
                {
                    "event_id": event_id,
                    "owner_id": owner,
                    "month": filing.month,
                    "occurred_at": filing.occurred_at,
                    "received_at": occurred,
                    "name": "channel.play",
                    "category": "usage.action",
                    "is_bot": False,
                }
            )
        assert storage.insert_rows(session, retries) == set()


def test_a_sign_out_known_from_its_receipt_closes_its_login_once(engine: Engine) -> None:
    """The receipt of a sign-out is the only trace of its id: the migration writes it into
    the login it closed (signed out at exactly that time)."""
    ada, login, logout = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    out_at = MONTH_END - timedelta(hours=1)
    pg = engine.dialect.name == "postgresql"

    def value(x: Any) -> Any:
        if pg:
            return x
        return x.hex if isinstance(x, uuid.UUID) else x.strftime("%Y-%m-%d %H:%M:%S.%f")

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subjects (id, status, policy_version_shown, created_at, "
                "last_activity_at) VALUES (:i, 'active', 'v1', :t, :t)"
            ),
            {"i": value(ada), "t": value(MONTH_END)},
        )
        conn.execute(
            text(
                "INSERT INTO logins (id, subject_id, logged_in_at, logged_out_at) "
                "VALUES (:i, :s, :a, :b)"
            ),
            {
                "i": value(login),
                "s": value(ada),
                "a": value(out_at - timedelta(hours=1)),
                "b": value(out_at),
            },
        )
        for event_id, at in ((login, out_at - timedelta(hours=1)), (logout, out_at)):
            conn.execute(
                text("INSERT INTO event_receipts (event_id, occurred_at) VALUES (:e, :t)"),
                {"e": value(event_id), "t": value(at)},
            )
    migrate.upgrade(engine)
    with make_session_factory(engine).begin() as session:
        (row,) = session.scalars(select(Login).where(Login.subject_id == ada))
        assert (row.id, row.logout_id) == (login, logout)
