"""Migration 0026 seals a log written with unkeyed links: the old entries stay verifiable,
the seal is the first keyed entry, and the upgrade refuses to run without the audit key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import URL, make_url

from safehold import migrate
from safehold.access import audit, chain
from safehold.access.models import AuditHead
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.db import make_engine, make_session_factory, transaction
from tests.conftest import TEST_AUDIT_KEY
from tests.integration.test_audit_log import plant

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
LEGACY = 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def before_0026(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database at revision 0025 holding ``LEGACY`` entries linked the unkeyed way."""
    if request.param == "sqlite":
        url = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('seal') / 'seal.db'}")
    else:
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make()
    engine = make_engine(url)
    migrate.upgrade(engine, "0025")
    prev = chain.GENESIS
    with engine.begin() as conn:
        for seq in range(1, LEGACY + 1):
            data = chain.EntryData(
                seq=seq, at=T0 + timedelta(minutes=seq), actor="api_key:k1",
                action="subject.read", subject_id=None, categories=("account.email",),
                purpose="service_provision", outcome="allowed", request_id=f"req-{seq}",
            )  # fmt: skip
            digest = chain.legacy_link_hash(prev, data)
            plant(conn, data, prev, digest, chain_id=None)
            prev = digest
        conn.execute(update(AuditHead).values(last_seq=LEGACY, last_hash=prev))
    yield engine
    engine.dispose()


def test_the_upgrade_seals_the_unkeyed_chain_and_it_stays_verifiable(
    before_0026: Engine,
) -> None:
    with before_0026.connect() as conn:
        legacy_head = conn.execute(select(AuditHead.last_hash)).scalar_one()
    migrate.upgrade(before_0026, audit_key=TEST_AUDIT_KEY)
    sessions = make_session_factory(before_0026, audit_key=TEST_AUDIT_KEY)
    with transaction(sessions) as session:
        seal = audit.entries(session, subject_id=None, after=LEGACY)
        assert [(e.chain, e.position, e.action, e.prev_hash) for e in seal] == [
            (0, LEGACY + 1, "audit.sealed", legacy_head)
        ]
        assert seal[0].hash == chain.link_hash(
            TEST_AUDIT_KEY, 0, legacy_head, audit.as_data(seal[0])
        )
        audit.record(
            session, actor=Actor("system", "test"), action="subject.read", subject_id=None,
            categories=[], purpose=None, outcome="ok", clock=FrozenClock(T0),
        )  # fmt: skip
    with sessions() as session:
        result = audit.verify(session)
    assert result.ok, result.broken
    assert result.checked == LEGACY + 2


def test_the_sealed_prefix_cannot_be_extended_over_keyed_entries(before_0026: Engine) -> None:
    """After the seal, an entry appended with an unkeyed link is refused by verify."""
    migrate.upgrade(before_0026, audit_key=TEST_AUDIT_KEY)
    sessions = make_session_factory(before_0026, audit_key=TEST_AUDIT_KEY)
    with transaction(sessions) as session:
        head = session.get_one(AuditHead, 0)
        forged = chain.EntryData(
            seq=head.last_seq + 1, at=T0, actor="admin:someone", action="subject.read",
            subject_id=None, categories=(), purpose=None, outcome="ok", request_id=None,
        )  # fmt: skip
        digest = chain.legacy_link_hash(head.last_hash, forged)
        plant(session, forged, head.last_hash, digest, chain_id=0)
        head.last_seq, head.last_hash = forged.seq, digest
    with sessions() as session:
        assert audit.verify(session).broken == chain.Break(LEGACY + 2, "entry altered")


def test_without_the_audit_key_the_upgrade_stops_and_changes_nothing(
    before_0026: Engine,
) -> None:
    with pytest.raises(RuntimeError, match="sealed with the audit key"):
        migrate.upgrade(before_0026)
    assert migrate.current_revision(before_0026) == "0025"
    with before_0026.connect() as conn:
        assert conn.execute(select(AuditHead.last_seq)).scalar_one() == LEGACY
