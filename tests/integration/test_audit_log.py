"""The audit log on a real database: appended in the caller's transaction, verified by
walking the chain, and kept valid by several processes writing at once."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safehold import migrate
from safehold.access import audit
from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock, SystemClock
from safehold.db import make_engine, make_session_factory, transaction

ACTOR = Actor("api_key", "k1", request_id="req-1")


def write(session: Session, clock: FrozenClock, n: int) -> list[audit.Recorded]:
    subject = uuid.uuid4()
    return [
        audit.record(
            session,
            actor=ACTOR,
            action="subject.read",
            subject_id=subject,
            categories=["account.email", "account.name"],
            purpose="service_provision",
            outcome="allowed",
            clock=clock,
        )
        for _ in range(n)
    ]


def test_entries_chain_and_verify(session: Session, clock: FrozenClock) -> None:
    entries = write(session, clock, 5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[1].prev_hash == entries[0].hash
    result = audit.verify(session)
    assert result.ok
    assert result.checked == 5


def test_the_database_hashes_awkward_text_as_the_verifier_does(
    session: Session, clock: FrozenClock
) -> None:
    """One entry is numbered and hashed by the database (SQLite's registered function,
    PostgreSQL's sha256): quotes, backslashes, non-ASCII and a look-alike of the seq key in
    the values still give the hash that ``chain.link_hash`` recomputes."""
    odd = Actor("admin", 'ad\\min "é" 中', request_id='","seq":9,"x":"\u2028')
    first = audit.record(
        session, actor=odd, action="subject.read", subject_id=None,
        categories=['a"b', "ü"], purpose=None, outcome="ok", clock=clock,
    )  # fmt: skip
    batch = audit.record_many(
        session, [audit.Access(odd, "x", None, ["c"], "p", "ok")] * 2, clock=clock
    )
    last = audit.record(
        session, actor=odd, action="subject.read", subject_id=uuid.uuid4(),
        categories=[], purpose="p", outcome="ok", clock=clock,
    )  # fmt: skip
    assert [first.seq, *(b.seq for b in batch), last.seq] == [1, 2, 3, 4]
    assert last.prev_hash == batch[-1].hash
    result = audit.verify(session)
    assert result.ok, result.broken
    assert result.head_hash == last.hash


def test_without_the_head_trigger_an_append_fails_rather_than_forks(
    session: Session, clock: FrozenClock
) -> None:
    """The trigger (migration 0016) is what moves the head after a one-statement append.
    Without it the head stays behind: verify says so, and the append after next reuses a
    number and is refused by the key, so the chain never forks."""
    write(session, clock, 1)
    session.execute(text("DROP TRIGGER audit_head_follows" + (
        " ON audit_entries" if session.get_bind().dialect.name == "postgresql" else ""
    )))  # fmt: skip
    write(session, clock, 1)
    assert audit.verify(session).broken is not None  # an entry past the head
    with pytest.raises(IntegrityError), session.begin_nested():
        write(session, clock, 1)
    session.expire_all()
    assert [e.seq for e in audit.entries(session, subject_id=None)] == [1, 2]


def test_an_edited_row_is_named(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 5)
    session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(purpose="marketing"))
    session.expire_all()
    result = audit.verify(session)
    assert result.broken is not None
    assert result.broken.seq == 3


def test_a_deleted_row_and_a_truncated_tail_are_named(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 6)
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 6))
    session.expire_all()
    tail = audit.verify(session)
    assert tail.broken is not None
    assert tail.broken.seq == 6
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    session.expire_all()
    middle = audit.verify(session)
    assert middle.broken is not None
    assert middle.broken.seq == 2


def test_a_rolled_back_access_leaves_no_entry(
    sessions: Callable[[], Session], clock: FrozenClock
) -> None:
    def failing_access(s: Session) -> None:
        with s.begin_nested():
            write(s, clock, 2)
            raise RuntimeError("the access failed")

    with sessions() as s:
        with pytest.raises(RuntimeError):
            failing_access(s)
        assert audit.entries(s, subject_id=None) == []
        assert audit.verify(s).ok


def test_entries_by_subject(session: Session, clock: FrozenClock) -> None:
    first = write(session, clock, 2)
    write(session, clock, 3)
    subject = first[0].subject_id
    assert [e.seq for e in audit.entries(session, subject_id=subject)] == [1, 2]
    assert [e.seq for e in audit.entries(session, subject_id=None, after=3)] == [4, 5]


def accesses(n: int) -> list[audit.Access]:
    return [
        audit.Access(ACTOR, "events.ingest", uuid.uuid4(), ["usage.action", "device.info"],
                     "service_provision", "ok")
        for _ in range(n)
    ]  # fmt: skip


def test_a_batch_chains_between_single_entries(session: Session, clock: FrozenClock) -> None:
    before = write(session, clock, 2)
    batch = audit.record_many(session, accesses(5), clock=clock)
    after = write(session, clock, 1)
    assert [e.seq for e in [*before, *batch, *after]] == list(range(1, 9))
    assert batch[0].prev_hash == before[-1].hash
    assert [b.prev_hash for b in batch[1:]] == [b.hash for b in batch[:-1]]
    assert after[0].prev_hash == batch[-1].hash
    stored = audit.entries(session, subject_id=None)
    assert [e.hash for e in stored] == [e.hash for e in [*before, *batch, *after]]
    assert stored[3].categories == ["device.info", "usage.action"]  # sorted, as hashed
    result = audit.verify(session)
    assert result.ok
    assert result.checked == 8
    assert result.head_hash == after[0].hash


def test_an_empty_batch_appends_nothing(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 1)
    assert audit.record_many(session, [], clock=clock) == []
    assert audit.verify(session).checked == 1


def test_an_edited_entry_inside_a_batch_is_named(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 1)
    batch = audit.record_many(session, accesses(4), clock=clock)
    session.execute(
        update(AuditEntry).where(AuditEntry.seq == batch[2].seq).values(outcome="refused")
    )
    session.expire_all()
    result = audit.verify(session)
    assert result.broken is not None
    assert result.broken.seq == batch[2].seq


WRITERS, PER_WRITER, BATCH = 4, 40, 3


def _writer(url: str, n: int) -> None:
    """Alternates single entries and batches of ``BATCH``: both take the same head lock."""
    engine = make_engine(make_url(url))
    sessions = make_session_factory(engine)
    clock = SystemClock()
    actor = Actor("system", f"writer-{multiprocessing.current_process().pid}")
    for i in range(n):
        with transaction(sessions) as session:
            if i % 2:
                audit.record_many(
                    session,
                    [audit.Access(actor, "events.ingest", uuid.uuid4(), ["usage.action"],
                                  "service_provision", "ok") for _ in range(BATCH)],
                    clock=clock,
                )  # fmt: skip
                continue
            audit.record(
                session,
                actor=actor,
                action="subject.read",
                subject_id=uuid.uuid4(),
                categories=["usage.login"],
                purpose="service_provision",
                outcome="refused",
                clock=clock,
            )
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_concurrent_writer_processes_keep_the_chain_valid(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if backend == "sqlite":
        url: URL = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('c') / 'c.db'}")
    else:
        url = request.getfixturevalue("scratch_postgres")()
    engine = make_engine(url)
    migrate.upgrade(engine)
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_writer, args=(url.render_as_string(hide_password=False), PER_WRITER))
        for _ in range(WRITERS)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    with make_session_factory(engine)() as session:
        result = audit.verify(session)
    engine.dispose()
    assert result.ok, result.broken
    assert result.checked == WRITERS * (PER_WRITER // 2) * (1 + BATCH)
