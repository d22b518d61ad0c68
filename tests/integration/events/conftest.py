"""Helpers for the events tests: fictional people, batches, and reading what was stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.events import ips, service, storage
from safehold.events.schemas import BatchIn
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.vault.service import Vault

ACTOR = Actor("api_key", "events-test")
TIZEN = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/3.0 Chrome/69.0.3497.106 TV Safari/537.36"
)
MAG = (
    "Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) MAG200 "
    "stbapp ver: 2 rev: 250 Safari/533.3"
)
Send = Callable[..., list[service.Outcome]]
Person = Callable[..., uuid.UUID]


@pytest.fixture
def ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


@pytest.fixture
def person(session: Session, runtime: Runtime) -> Person:
    """Register a fictional person; returns their id."""
    made = 0

    def make(name: str = "Ada Quillfeather") -> uuid.UUID:
        nonlocal made
        made += 1
        contact = subject_rules.contact(
            name=name, email=f"viewer{made}.{uuid.uuid4().hex[:6]}@example.com"
        )
        subject = subjects.register(
            session,
            subjects.Context(runtime.vault, runtime.policy, runtime.clock),
            actor=ACTOR,
            contact=contact,
            marketing_opt_in=False,
            policy_version="test",
        )
        session.flush()
        return subject.id

    return make


@pytest.fixture
def send(session: Session, ctx: service.Context) -> Send:
    """Ingest one batch in the test's transaction, at the frozen clock's now."""

    def run(
        events: list[dict[str, Any]],
        *,
        sent_at: datetime | None = None,
        context: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> list[service.Outcome]:
        batch = BatchIn.model_validate({"sent_at": sent_at, "context": context, "events": events})
        return service.ingest(session, ctx, batch, actor=ACTOR, received_at=at or ctx.clock.now())

    return run


def stored(session: Session, **where: Any) -> list[dict[str, Any]]:
    """Every stored event (all months), as plain dicts, oldest first."""
    e = storage.EVENTS
    query = select(e).order_by(e.c.occurred_at, e.c.event_id)
    for name, value in where.items():
        query = query.where(e.c[name] == value)
    return [dict(row) for row in session.execute(query).mappings()]


def address(session: Session, vault: Vault, row: Any) -> str | None:
    """A stored address (an event row or a :class:`Login`) as its person reads it: never
    plain, sealed under a key of the ``network_ip`` class (decision 0043)."""
    values = row if isinstance(row, Mapping) else vars(row)
    assert values["ip"] is None
    if values["ip_sealed"] is not None:
        assert values["ip_class"].partition("@")[0] == "network_ip"
    return ips.unseal(session, vault, values["subject_id"], values)[0]


def statuses(outcomes: list[service.Outcome]) -> list[str]:
    return [o.status if o.refusal is None else o.refusal.reason.value for o in outcomes]
