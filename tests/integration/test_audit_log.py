"""The audit log on a real database: appended in the caller's transaction, verified by
walking the chain, and kept valid by several processes writing at once."""

from __future__ import annotations

import dataclasses
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Barrier

import pytest
from sqlalchemy import column, delete, insert, select, table, text, update
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from safehold import migrate
from safehold.access import audit, chain, chains, checkpoints
from safehold.access.models import AuditCheckpoint, AuditEntry, AuditHead
from safehold.access.rules import Actor
from safehold.clock import FrozenClock, SystemClock
from safehold.db import AUDIT_KEY, make_engine, make_session_factory, reading_only, transaction
from tests.audit_guards import guards_off
from tests.conftest import FROZEN_AT, TEST_AUDIT_KEY

ACTOR = Actor("api_key", "k1", request_id="req-1")


# The tests' chains: other connections of the shared test database (the app's, a job's) own
# the low numbers, so these tests write on chains numbered from BASE, which only they use.
BASE = 1000


@pytest.fixture(autouse=True)
def chains_let_go(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the shared test connection, it lets its chain go: the pool hands
    the next test another connection, which must be able to own the same numbered chain."""
    shared = "connection" in request.fixturenames
    conn = request.getfixturevalue("connection") if shared else None
    yield
    if conn is not None:
        chains.let_go(conn)


def on_chain(session: Session, chain_id: int) -> None:
    """Make the session's connection own chain ``chain_id`` (a number from :data:`BASE`: the
    tests' connection is shared by every test, so each says which chain it writes on)."""
    conn = session.connection()
    owned = chains.current(conn)
    if owned is None or owned.chain != chain_id:
        chains.claim_exactly(conn, chain_id)


def write(
    session: Session, clock: FrozenClock, n: int, chain_id: int = BASE
) -> list[audit.Recorded]:
    """``n`` entries of one new person on chain ``chain_id``."""
    on_chain(session, chain_id)
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
    assert [(e.chain, e.position) for e in entries] == [(BASE, p) for p in range(1, 6)]
    assert entries[1].prev_hash == entries[0].hash
    result = audit.verify(session)
    assert result.ok
    assert result.checked == 5


def test_awkward_text_links_as_the_verifier_recomputes(
    session: Session, clock: FrozenClock
) -> None:
    """Quotes, backslashes, non-ASCII and a look-alike of the seq key in the values, stored
    and read back by the database, still give the link ``chain.link_hash`` recomputes."""
    odd = Actor("admin", 'ad\\min "é" 中', request_id='","seq":9,"x":"\u2028')
    on_chain(session, BASE)
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
    assert [first.position, *(b.position for b in batch), last.position] == [1, 2, 3, 4]
    assert last.prev_hash == batch[-1].hash
    result = audit.verify(session)
    assert result.ok, result.broken
    assert session.get_one(AuditHead, BASE).last_hash == last.hash


def test_a_stale_head_makes_the_next_append_fail_rather_than_fork(
    session: Session, clock: FrozenClock
) -> None:
    """A head moved back (by hand) under the chain's owner: its next append does not extend
    the head, which the database refuses (trigger ``audit_entries_extend``), and once the
    owner reads the head again, the number it would reuse is refused by the unique key: the
    chain never forks, and verify names the entry past the head."""
    write(session, clock, 2)
    session.execute(update(AuditHead).where(AuditHead.id == BASE).values(last_seq=1))
    session.expire_all()
    assert audit.verify(session).broken is not None
    with pytest.raises(IntegrityError), session.begin_nested():
        write(session, clock, 1)
    with pytest.raises(IntegrityError), session.begin_nested():
        write(session, clock, 1)
    session.expire_all()
    assert [e.position for e in audit.entries(session, subject_id=None)] == [1, 2]


# The entries table as it was before migration 0027 (and 0042's key versions): what an
# old database's rows are planted into.
BEFORE_0027 = table(
    "audit_entries",
    *(column(c.name, c.type) for c in AuditEntry.__table__.c if c.name != "key_version"),
)


def plant(
    db: Session | Connection,
    data: chain.EntryData,
    prev: str,
    digest: str,
    chain_id: int | None = BASE,
) -> None:
    """Insert an entry directly, as a database writer would (bypassing ``audit.record``).
    ``chain_id=None``: a row of the one-chain schema before migration 0027 (``seq`` only)."""
    where = {"seq": data.seq} if chain_id is None else {"chain": chain_id, "position": data.seq}
    db.execute(
        insert(AuditEntry if chain_id is not None else BEFORE_0027).values(
            **where,
            at=data.at,
            actor=data.actor,
            action=data.action,
            subject_id=uuid.UUID(data.subject_id) if data.subject_id else None,
            categories=list(data.categories),
            purpose=data.purpose,
            outcome=data.outcome,
            request_id=data.request_id,
            prev_hash=prev,
            hash=digest,
        )
    )


def _recompute_unkeyed(session: Session, start: int) -> None:
    """What the review's C7 did: recompute every link from ``start`` with the public
    (unkeyed) function, and the head, as a database writer without the audit key can."""
    rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.position)))
    prev = rows[start - 2].hash if start > 1 else chain.GENESIS
    for row in rows[start - 1 :]:
        digest = chain.legacy_link_hash(prev, audit.as_data(row))
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.position == row.position)
            .values(prev_hash=prev, hash=digest)
        )
        prev = digest
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == BASE)
        .values(last_seq=rows[-1].position, last_hash=prev)
    )
    session.expire_all()


def test_an_edit_with_recomputed_links_is_named_without_the_key(
    session: Session, clock: FrozenClock
) -> None:
    guards_off(session)
    write(session, clock, 6)
    session.execute(update(AuditEntry).where(AuditEntry.position == 3).values(purpose="marketing"))
    _recompute_unkeyed(session, 3)
    result = audit.verify(session)
    assert result.broken == chain.Break(3, "entry altered", BASE)


def test_links_recomputed_with_another_key_are_named(session: Session, clock: FrozenClock) -> None:
    """A writer guessing the key (any key but the audit key) gets no further."""
    guards_off(session)
    write(session, clock, 4)
    wrong = b"another fictional key of 32 byte"
    rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.position)))
    prev = rows[1].hash
    for row in rows[2:]:
        digest = chain.link_hash(wrong, 0, prev, audit.as_data(row))
        session.execute(
            update(AuditEntry).where(AuditEntry.position == row.position).values(hash=digest)
        )
        prev = digest
    session.execute(update(AuditHead).where(AuditHead.id == BASE).values(last_hash=prev))
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(3, "entry altered", BASE)


def test_a_forged_appended_entry_is_named(session: Session, clock: FrozenClock) -> None:
    """The review's C8: an entry appended with a correct unkeyed hash, the head moved to it."""
    recorded = write(session, clock, 3)
    forged = chain.EntryData(
        seq=4, at=clock.now(), actor="admin:someone", action="subject.read", subject_id=None,
        categories=(), purpose="service_provision", outcome="allowed", request_id=None,
    )  # fmt: skip
    digest = chain.legacy_link_hash(recorded[-1].hash, forged)
    plant(session, forged, recorded[-1].hash, digest)
    session.execute(
        update(AuditHead).where(AuditHead.id == BASE).values(last_seq=4, last_hash=digest)
    )
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(4, "entry altered", BASE)


def test_a_chain_rewritten_entirely_unkeyed_is_named(session: Session, clock: FrozenClock) -> None:
    """Turning every keyed entry into an unkeyed (legacy-looking) one leaves no keyed entry
    at the end: the chain was rewritten."""
    guards_off(session)
    write(session, clock, 4)
    _recompute_unkeyed(session, 1)
    result = audit.verify(session)
    assert result.broken is not None
    assert result.broken.reason == "no entry is keyed: the chain was rewritten"


def test_an_edited_row_is_named(session: Session, clock: FrozenClock) -> None:
    guards_off(session)
    write(session, clock, 5)
    session.execute(update(AuditEntry).where(AuditEntry.position == 3).values(purpose="marketing"))
    session.expire_all()
    result = audit.verify(session)
    assert result.broken is not None
    assert result.broken.seq == 3


def test_a_deleted_row_and_a_truncated_tail_are_named(session: Session, clock: FrozenClock) -> None:
    guards_off(session)
    write(session, clock, 6)
    session.execute(delete(AuditEntry).where(AuditEntry.position == 6))
    session.expire_all()
    tail = audit.verify(session)
    assert tail.broken is not None
    assert tail.broken.seq == 6
    session.execute(delete(AuditEntry).where(AuditEntry.position == 2))
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
    assert [e.position for e in audit.entries(session, subject_id=subject)] == [1, 2]
    third = audit.entries(session, subject_id=None)[2].seq  # row numbers: any chain, paged
    assert [e.position for e in audit.entries(session, subject_id=None, after=third)] == [4, 5]


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
    assert [e.position for e in [*before, *batch, *after]] == list(range(1, 9))
    assert batch[0].prev_hash == before[-1].hash
    assert [b.prev_hash for b in batch[1:]] == [b.hash for b in batch[:-1]]
    assert after[0].prev_hash == batch[-1].hash
    stored = audit.entries(session, subject_id=None)
    assert [e.hash for e in stored] == [e.hash for e in [*before, *batch, *after]]
    assert stored[3].categories == ["device.info", "usage.action"]  # sorted, as hashed
    result = audit.verify(session)
    assert result.ok
    assert result.checked == 8
    assert session.get_one(AuditHead, BASE).last_hash == after[0].hash


def test_an_empty_batch_appends_nothing(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 1)
    assert audit.record_many(session, [], clock=clock) == []
    assert audit.verify(session).checked == 1


def test_an_edited_entry_inside_a_batch_is_named(session: Session, clock: FrozenClock) -> None:
    guards_off(session)
    write(session, clock, 1)
    batch = audit.record_many(session, accesses(4), clock=clock)
    session.execute(
        update(AuditEntry).where(AuditEntry.position == batch[2].position).values(outcome="refused")
    )
    session.expire_all()
    result = audit.verify(session)
    assert result.broken is not None
    assert result.broken.seq == batch[2].position


def test_each_connection_appends_on_a_chain_of_its_own(
    tmp_path_factory: pytest.TempPathFactory, clock: FrozenClock
) -> None:
    """Two live connections own different chains; each keeps its chain across transactions,
    and the heads follow their entries (moved by the database). (A fresh database: these
    transactions commit.)"""
    engine = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('o') / 'o.db'}"))
    migrate.upgrade(engine)
    info = {AUDIT_KEY: TEST_AUDIT_KEY}
    try:
        with (
            engine.connect() as c1,
            engine.connect() as c2,
            Session(bind=c1, info=info) as one,
            Session(bind=c2, info=info) as two,
        ):
            recorded: list[list[audit.Recorded]] = [[], []]
            for n in (2, 1):
                for i, session in enumerate((one, two)):
                    recorded[i] += audit.record_many(session, accesses(n), clock=clock)
                    session.commit()
            assert recorded[0][0].chain != recorded[1][0].chain
            for entries in recorded:
                assert [r.chain for r in entries] == [entries[0].chain] * 3
                assert [r.position for r in entries] == [1, 2, 3]
                assert entries[2].prev_hash == entries[1].hash
            heads = {h.id: (h.last_seq, h.last_hash) for h in one.scalars(select(AuditHead))}
            assert heads[recorded[0][0].chain] == (3, recorded[0][2].hash)
            assert audit.verify(one).ok
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_end_in_memory_follows_commits_rollbacks_and_errors(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The chain's end moves on a real commit only: appends rolled back, an end read inside a
    transaction that then rolls back, and a failed append all leave the next append on the
    committed end (the database would refuse anything else)."""
    if backend == "sqlite":
        url: URL = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('e') / 'e.db'}")
    else:
        url = request.getfixturevalue("scratch_postgres")()
    engine = make_engine(url)
    migrate.upgrade(engine)
    clock = FrozenClock(FROZEN_AT)
    try:
        with engine.connect() as conn, Session(bind=conn, info={AUDIT_KEY: TEST_AUDIT_KEY}) as s:
            audit.record_many(s, accesses(2), clock=clock)
            s.commit()
            audit.record_many(s, accesses(3), clock=clock)
            s.rollback()  # three appends rolled back
            owner = chains.current(conn)
            assert owner is not None
            audit.record_many(s, accesses(1), clock=clock)
            chains.failed(owner)  # the end is read again inside this transaction (its own
            audit.record_many(s, accesses(1), clock=clock)  # append included) …
            s.rollback()  # … which rolls back
            after = audit.record_many(s, accesses(1), clock=clock)
            s.commit()
            assert [(r.chain, r.position) for r in after] == [(owner.chain, 3)]
            with pytest.raises(DBAPIError), s.begin_nested():  # a refused append
                plant(s, audit.as_data(s.scalars(select(AuditEntry)).first()), "x", "y", 0)
            last = audit.record_many(s, accesses(1), clock=clock)
            s.commit()
            assert [(r.chain, r.position) for r in last] == [(owner.chain, 4)]
            assert audit.verify(s).ok
    finally:
        engine.dispose()


def test_a_connection_lost_mid_transaction_rolls_back_without_a_new_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The database went away (the connection invalidated) after an append: rolling back
    must not fail again in the chain's bookkeeping — its chain went with the connection."""
    engine = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('l') / 'l.db'}"))
    migrate.upgrade(engine)
    clock = FrozenClock(FROZEN_AT)
    try:
        with engine.connect() as conn:
            session = Session(bind=conn, info={AUDIT_KEY: TEST_AUDIT_KEY})
            audit.record_many(session, accesses(1), clock=clock)
            conn.invalidate()
            session.close()  # rolls back: raised PendingRollbackError from the rollback event
            assert chains.current(conn) is None
    finally:
        engine.dispose()


def test_an_append_that_does_not_extend_the_head_is_refused(
    session: Session, clock: FrozenClock
) -> None:
    """An entry inserted past the head, or with another previous link, is refused by the
    database with nothing written, whoever inserts it."""
    recorded = write(session, clock, 2)
    data = audit.as_data(session.scalars(select(AuditEntry)).first())  # type: ignore[arg-type]
    for position, prev in ((4, recorded[-1].hash), (3, recorded[0].hash)):
        moved = dataclasses.replace(data, seq=position)
        with pytest.raises(DBAPIError, match="extend the head"), session.begin_nested():
            plant(session, moved, prev, chain.link_hash(TEST_AUDIT_KEY, BASE, prev, moved))
    session.expire_all()
    assert [e.position for e in audit.entries(session, subject_id=None)] == [1, 2]
    assert audit.verify(session).ok


def test_an_entry_moved_to_another_chain_is_named(session: Session, clock: FrozenClock) -> None:
    """Moving an entry (and its link) to another chain, heads fixed up to match, breaks
    both: its link names its chain, and its old chain has a gap."""
    guards_off(session)
    write(session, clock, 3, chain_id=BASE + 2)
    write(session, clock, 2, chain_id=BASE + 7)
    moved = session.scalars(
        select(AuditEntry).where(AuditEntry.chain == BASE + 2, AuditEntry.position == 3)
    ).one()
    last7 = session.get_one(AuditHead, BASE + 7)
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.seq == moved.seq)
        .values(chain=BASE + 7, position=3, prev_hash=last7.last_hash)
    )
    session.execute(
        update(AuditHead).where(AuditHead.id == BASE + 7).values(last_seq=3, last_hash=moved.hash)
    )
    second = session.scalars(
        select(AuditEntry).where(AuditEntry.chain == BASE + 2, AuditEntry.position == 2)
    ).one()
    session.execute(
        update(AuditHead).where(AuditHead.id == BASE + 2).values(last_seq=2, last_hash=second.hash)
    )
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(3, "entry altered", BASE + 7)


def test_an_entry_past_the_head_is_named(session: Session, clock: FrozenClock) -> None:
    """An entry inserted behind the database's back (its trigger dropped), the head left
    alone: verify names the first position past the head."""
    recorded = write(session, clock, 2)
    session.execute(text(
        "DROP TRIGGER audit_entries_extend"
        + (" ON audit_entries" if session.get_bind().dialect.name == "postgresql" else "")
    ))  # fmt: skip
    first = session.scalars(select(AuditEntry).order_by(AuditEntry.position)).first()
    assert first is not None
    extra = dataclasses.replace(audit.as_data(first), seq=3)
    prev = recorded[-1].hash
    plant(session, extra, prev, chain.link_hash(TEST_AUDIT_KEY, BASE, prev, extra))
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(3, "entry past the chain's head", BASE)


def test_a_deleted_chain_head_is_named(session: Session, clock: FrozenClock) -> None:
    write(session, clock, 2, chain_id=BASE + 4)
    session.execute(delete(AuditHead).where(AuditHead.id == BASE + 4))
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(1, "chain head missing", BASE + 4)


def test_an_entry_on_a_chain_without_a_head_is_named(session: Session, clock: FrozenClock) -> None:
    guards_off(session)
    write(session, clock, 1, chain_id=BASE + 3)
    session.execute(update(AuditEntry).where(AuditEntry.chain == BASE + 3).values(chain=BASE + 99))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == BASE + 3)
        .values(last_seq=0, last_hash=chain.GENESIS)
    )
    session.expire_all()
    assert audit.verify(session).broken == chain.Break(1, "chain head missing", BASE + 99)


def test_the_database_refuses_to_change_or_remove_entries_and_checkpoints(
    session: Session, clock: FrozenClock
) -> None:
    """The append-only guards (migration 0027): UPDATE, DELETE (and TRUNCATE on PostgreSQL)
    of entries and checkpoints are refused by the database itself, with nothing changed."""
    write(session, clock, 2)
    checkpoints.take(session, TEST_AUDIT_KEY, clock=clock)
    statements: list[Executable] = [
        update(AuditEntry).values(outcome="refused"),
        delete(AuditEntry).where(AuditEntry.position == 2),
        update(AuditCheckpoint).values(heads=[]),
        delete(AuditCheckpoint),
    ]
    if session.get_bind().dialect.name == "postgresql":
        statements += [text("TRUNCATE audit_entries"), text("TRUNCATE audit_checkpoints")]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)
    session.expire_all()
    assert audit.verify(session).ok
    assert checkpoints.count(session) == 1


WRITERS, PER_WRITER, BATCH = 4, 40, 3


def _writer(url: str, n: int, started: Barrier) -> None:
    """Alternates single entries and batches of ``BATCH``, each writer's connection on a
    chain of its own."""
    engine = make_engine(make_url(url))
    sessions = make_session_factory(engine, audit_key=TEST_AUDIT_KEY)
    clock = SystemClock()
    actor = Actor("system", f"writer-{multiprocessing.current_process().pid}")
    for i in range(n):
        if i == 1:
            started.wait(timeout=60)  # every writer owns its chain: they all write at once
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
    started = ctx.Barrier(WRITERS)
    rendered = url.render_as_string(hide_password=False)
    workers = [
        ctx.Process(target=_writer, args=(rendered, PER_WRITER, started)) for _ in range(WRITERS)
    ]
    for w in workers:
        w.start()
    with make_session_factory(engine, audit_key=TEST_AUDIT_KEY)() as session:
        while any(w.is_alive() for w in workers):  # verify while they append: never a break
            reading_only(session)
            during = audit.verify(session)
            assert during.ok, during.broken
            session.rollback()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    with make_session_factory(engine, audit_key=TEST_AUDIT_KEY)() as session:
        result = audit.verify(session)
        rows = session.execute(select(AuditEntry.chain, AuditEntry.position, AuditEntry.prev_hash))
        by_chain: dict[int, list[tuple[int, str]]] = {}
        for chain_id, position, prev in rows:
            by_chain.setdefault(chain_id, []).append((position, prev))
    engine.dispose()
    assert result.ok, result.broken
    assert result.checked == WRITERS * (PER_WRITER // 2) * (1 + BATCH)
    assert len(by_chain) == WRITERS  # each writer on its own chain
    for links in by_chain.values():  # no gap, and no previous link used twice (no fork)
        assert sorted(p for p, _ in links) == list(range(1, len(links) + 1))
        assert len({prev for _, prev in links}) == len(links)
