"""Planting audit tampering as an attacker with the database's owner rights would: the
append-only triggers (migration 0027) refuse UPDATE and DELETE, so drop them first — inside
the test's transaction, which rolls the drop back with everything else."""

from __future__ import annotations

import sqlite3

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

TABLES = ("audit_entries", "audit_checkpoints")


def drop_statements(dialect: str) -> list[str]:
    pg = dialect == "postgresql"
    events = ("update", "delete", "truncate") if pg else ("update", "delete")
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{event}" + (f" ON {table}" if pg else "")
        for table in TABLES
        for event in events
    ]


def guards_off(db: Session | Connection) -> None:
    """Drop the guards through a SQLAlchemy session or connection."""
    dialect = db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name
    for statement in drop_statements(dialect):
        db.execute(text(statement))


def guards_off_sqlite(db: sqlite3.Connection) -> None:
    """Drop the guards through a plain ``sqlite3`` connection."""
    for statement in drop_statements("sqlite"):
        db.execute(statement)
