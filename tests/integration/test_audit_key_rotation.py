"""Rotating the audit key (decision 0030, "Rotating the audit key"), on SQLite and PostgreSQL:
appends switch to the new version within the refresh time, checkpoints after the switch
delay, the log verifies across versions, and from the first checkpoint sealed with a version
on, an entry keyed by a retired one is named — even one whose link is right under that key.
The rotated keys travel with the KEK (re-wrapped) and cannot be deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import audit, audit_keys, chain, chains, checkpoints
from safehold.access.audit_keys import AuditKeys
from safehold.access.models import AuditCheckpoint, AuditEntry, AuditKey
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.db import AUDIT_KEY
from safehold.vault.providers import MemoryKeyProvider
from tests.conftest import TEST_AUDIT_KEY
from tests.integration.test_audit_log import BASE, chains_let_go, on_chain, plant  # noqa: F401 (fixture)

ACTOR = Actor("api_key", "rotation-test")
CHAIN = BASE + 40


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> MemoryKeyProvider:
    return MemoryKeyProvider()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def keyed(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks
) -> sessionmaker[Session]:
    """The tests' sessions carrying rotatable audit keys."""
    keys = AuditKeys(TEST_AUDIT_KEY, provider, monotonic=ticks)
    sessions.configure(info={AUDIT_KEY: keys})
    return sessions


def append(session: Session, clock: FrozenClock, n: int = 1) -> list[audit.Recorded]:
    on_chain(session, CHAIN)
    accesses = [audit.Access(ACTOR, "subject.read", None, ["account.email"], "p", "ok")] * n
    return audit.record_many(session, accesses, clock=clock)


def versions(session: Session) -> list[int]:
    query = select(AuditEntry.key_version).where(AuditEntry.chain == CHAIN)
    return list(session.scalars(query.order_by(AuditEntry.position)))


def test_appends_switch_within_the_refresh_and_checkpoints_after_the_delay(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks, clock: FrozenClock
) -> None:
    with keyed() as session:
        append(session, clock)
        assert audit_keys.rotate(session, provider, now=clock.now()) == 1
        append(session, clock)  # this process looked less than REFRESH_SECONDS ago
        ticks.now += audit_keys.REFRESH_SECONDS
        append(session, clock, 2)
        assert versions(session) == [0, 0, 1, 1]
        early = checkpoints.take(session, audit.audit_keys(session), clock=clock)
        assert early.key_version == 0  # a process may still be appending with version 0
        clock.advance(audit_keys.SWITCH_AFTER)
        sealed = checkpoints.take(session, audit.audit_keys(session), clock=clock)
        assert sealed.key_version == 1
        assert sealed.document()["key"] == 1
        assert checkpoints.parse(sealed.line()) == sealed
        assert checkpoints.authentic(
            audit.audit_keys(session).readable(session.connection()), sealed
        )
        assert not checkpoints.authentic(TEST_AUDIT_KEY, sealed)
        append(session, clock)
        result = audit.verify(session, outside=[("copy", sealed)])
        assert result.ok, result.broken


def test_an_entry_keyed_by_the_retired_version_after_the_switch_is_named(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks, clock: FrozenClock
) -> None:
    """Whoever kept the old key can still compute a correct link with it: past the first
    checkpoint sealed with version 1, that entry is named all the same."""
    with keyed() as session:
        append(session, clock)
        audit_keys.rotate(session, provider, now=clock.now())
        ticks.now += audit_keys.REFRESH_SECONDS
        made = append(session, clock)[-1]
        clock.advance(audit_keys.SWITCH_AFTER)
        sealed = checkpoints.take(session, audit.audit_keys(session), clock=clock)
        assert sealed.key_version == 1
        assert audit.verify(session).ok
        forged = chain.EntryData(
            seq=made.position + 1, at=clock.now(), actor="api_key:forger",
            action="subject.read", subject_id=None, categories=(), purpose="p",
            outcome="ok", request_id=None,
        )  # fmt: skip
        link = chain.link_hash(TEST_AUDIT_KEY, CHAIN, made.hash, forged)  # the retired key
        chains.let_go(session.connection())
        plant(session, forged, made.hash, link, chain_id=CHAIN)  # version 0: the default
        broken = audit.verify(session).broken
        assert broken is not None
        assert (broken.chain, broken.seq) == (CHAIN, made.position + 1)
        assert "retired key" in broken.reason


def test_the_kek_rotation_rewraps_the_audit_keys_and_the_log_still_verifies(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks, clock: FrozenClock
) -> None:
    with keyed() as session:
        audit_keys.rotate(session, provider, now=clock.now())
        ticks.now += audit_keys.REFRESH_SECONDS
        append(session, clock, 3)
        first_kek = provider.current_version()
        provider.add_version()
        assert audit_keys.on_old_kek(session, provider) == 1
        assert audit_keys.rewrap(session, provider) == 1
        assert audit_keys.on_old_kek(session, provider) == 0
        row = session.scalars(select(AuditKey)).one()
        assert row.kek_version != first_kek
        fresh = AuditKeys(TEST_AUDIT_KEY, provider)  # another process, after the rotation
        session.info[AUDIT_KEY] = fresh
        assert audit.verify(session).ok


def test_a_tampered_audit_key_is_named_at_the_first_entry_it_keyed(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks, clock: FrozenClock
) -> None:
    with keyed() as session:
        append(session, clock)
        audit_keys.rotate(session, provider, now=clock.now())
        ticks.now += audit_keys.REFRESH_SECONDS
        made = append(session, clock)[-1]
        session.execute(update(AuditKey).values(wrapped=b"\x00" * 60))
        session.info[AUDIT_KEY] = AuditKeys(TEST_AUDIT_KEY, provider)  # cannot unwrap it
        broken = audit.verify(session).broken
        assert broken is not None
        assert (broken.chain, broken.seq) == (CHAIN, made.position)
        assert broken.reason == "keyed by audit key version 1, which cannot be read"


def test_an_unreadable_new_version_is_not_used_for_appends(
    keyed: sessionmaker[Session], ticks: Ticks, clock: FrozenClock
) -> None:
    """A row planted by a database writer (no KEK to wrap with) changes nothing."""
    with keyed() as session:
        planted = AuditKey(
            version=1, kek_version="v1", wrapped=b"\x01" * 60, created_at=clock.now()
        )
        session.add(planted)
        session.flush()
        ticks.now += audit_keys.REFRESH_SECONDS
        append(session, clock)
        assert versions(session) == [0]


def test_audit_keys_cannot_be_deleted(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    """Nor truncated, on PostgreSQL (SQLite has no TRUNCATE)."""
    with keyed() as session:
        audit_keys.rotate(session, provider, now=clock.now())
        removals = [delete(AuditKey)]
        if session.connection().dialect.name == "postgresql":
            removals.append(text("TRUNCATE audit_keys"))  # type: ignore[arg-type]
        for removal in removals:
            refused = pytest.raises(DBAPIError, match="audit keys cannot be removed")
            with refused, session.begin_nested():
                session.execute(removal)
        assert session.scalars(select(AuditKey.version)).all() == [1]


def test_checkpoints_sealed_with_an_older_key_than_the_one_before_are_named(
    keyed: sessionmaker[Session], provider: MemoryKeyProvider, ticks: Ticks, clock: FrozenClock
) -> None:
    """A database writer holding only the retired key signs the next checkpoint with it."""
    with keyed() as session:
        audit_keys.rotate(session, provider, now=clock.now())
        clock.advance(audit_keys.SWITCH_AFTER + timedelta(seconds=1))
        ticks.now += audit_keys.REFRESH_SECONDS
        append(session, clock)
        first = checkpoints.take(session, audit.audit_keys(session), clock=clock)
        assert first.key_version == 1
        with pytest.raises(RuntimeError, match="version 1 cannot be read"):
            checkpoints.take(session, TEST_AUDIT_KEY, clock=clock)  # never older than before
        heads = [(CHAIN, 1, "0" * 64)]
        forged = checkpoints.sign(TEST_AUDIT_KEY, 2, clock.now(), heads, first.mac)
        session.add(AuditCheckpoint(
            number=2, at=forged.at, heads=[list(h) for h in forged.heads],
            prev_mac=forged.prev_mac, mac=forged.mac, key_version=0,
        ))  # fmt: skip
        session.flush()
        broken = audit.verify(session).broken
        assert broken is not None
        assert (broken.where, broken.reason) == (
            "checkpoint 2",
            "checkpoint sealed with an older audit key than the one before",
        )
