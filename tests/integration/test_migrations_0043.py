"""Migration 0043 (sealed addresses) on months that already hold events, both backends, both
ways: every month table (SQLite: and the ``events`` view; PostgreSQL: every partition) gains
and loses the three columns, and a plain address stored before it stays as it was, for
``expire_ips`` to clear (the key provider is out of a migration's reach)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from safehold import migrate
from safehold.events import rules, storage
from tests.integration.test_migrations import scratch_engine as scratch_engine  # the fixture

NEW = {"ip_sealed", "ip_class", "ip_whole"}
MONTHS = (date(2026, 2, 1), date(2026, 3, 1))


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def plant(engine: Engine) -> None:
    """Two months, each with an anonymous event carrying a plain address (as before 0043)."""
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with Session(engine) as session:
        storage.ensure_months(session, MONTHS, at)
        storage.insert_rows(session, [
            {"event_id": uuid.uuid4(), "occurred_at": datetime(m.year, m.month, 2, tzinfo=UTC),
             "client_time": None, "received_at": at, "subject_id": None,
             "anonymous_index": "ab" * 32, "name": "channel.play", "category": "usage.action",
             "properties": None, "personal": None, "retention_class": None,
             "device_type": None, "os_family": None, "os_major": None, "browser_family": None,
             "browser_major": None, "is_bot": False, "ip": "198.51.100.0/24"}
            for m in MONTHS
        ])  # fmt: skip
        session.commit()


def addresses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT ip FROM events")).scalars())


def test_every_month_gains_the_sealed_columns_and_loses_them_on_downgrade(
    scratch_engine: Engine,
) -> None:
    migrate.upgrade(scratch_engine)
    plant(scratch_engine)
    names = [rules.partition_name(m) for m in MONTHS]
    assert all(columns(scratch_engine, n) >= NEW for n in names)

    migrate.downgrade(scratch_engine, "0039")
    for table in [*names, "logins"]:
        assert not NEW & columns(scratch_engine, table), table
    assert addresses(scratch_engine) == ["198.51.100.0/24"] * 2  # the view reads every month

    migrate.upgrade(scratch_engine)
    for table in [*names, "logins"]:
        assert columns(scratch_engine, table) >= NEW, table
    with scratch_engine.connect() as conn:
        sealed = conn.execute(text("SELECT ip_sealed, ip_class, ip_whole FROM events")).all()
    assert [tuple(r) for r in sealed] == [(None, None, None)] * 2  # through the view too
    assert addresses(scratch_engine) == ["198.51.100.0/24"] * 2  # left plain, to expire
