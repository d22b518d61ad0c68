from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safehold.access import service
from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.runtime import Runtime
from tests.audit_guards import guards_off

MakeKey = Callable[..., str]


@pytest.fixture
def make_key(runtime: Runtime) -> MakeKey:
    """Create an API key directly in the database and return its bearer token."""

    def make(scopes: list[str], purposes: list[str] | None = None, name: str = "test") -> str:
        with runtime.sessions() as session:
            created = service.create_key(
                session,
                name=name,
                scopes=scopes,
                purposes=purposes or [],
                known_purposes=runtime.policy.purpose_ids,
                clock=runtime.clock,
                actor=Actor("admin", "test"),
            )
            session.commit()
            return created.token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alter_first_audit_entry(session: Session, **values: object) -> str:
    """Plant tampering as a database owner would (the append-only guards dropped first):
    change the oldest entry's columns. Returns where ``audit.verify`` must find the break
    (``chain c, position p``)."""
    guards_off(session)
    first = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).limit(1)).one()
    session.execute(update(AuditEntry).where(AuditEntry.seq == first.seq).values(**values))
    return f"chain {first.chain}, position {first.position}"


def audit_entries(runtime: Runtime, action: str | None) -> list[AuditEntry]:
    """The audit log's entries for ``action`` (None: every entry), oldest first."""
    with runtime.sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))
