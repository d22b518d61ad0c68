"""Which audit chain a database connection appends to, and where that chain ends.

Each connection owns one chain for as long as it lives (decision 0030, "One chain per
connection"): on PostgreSQL by a session-level advisory lock on the chain's number, on SQLite
by an exclusive ``flock`` on a lock file beside the database
(``.<database file>.audit-chains/chain-N.lock``). Nobody else appends to an owned
chain, so its owner keeps the chain's end (position and link) in memory and an append is one
INSERT — no head row to read and lock on every access. The head row still follows every
append, moved by the database itself (trigger ``audit_entries_extend``, migration 0028), which
also refuses an entry that does not extend its chain's head: if the owner's memory were ever
wrong (or two writers met on one chain), the append fails instead of forking the chain.

The end in memory moves only when the database commits: an append sets it *pending* on the
connection; a real commit makes it the end; a rollback drops it; a rolled-back savepoint, or
an error on the connection (a failed commit among them), makes the owner read the head row
again before its next append. A connection that is closed or replaced lets its chain go (the
advisory lock ends with the server session, the file lock with the file), and the next
connection to need a chain takes the lowest free one, so the number of chains stays at the
largest number of connections that appended at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Table, event, func, insert, select
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError

from safehold.access.models import AuditHead

GENESIS = "0" * 64
_STATE = "safehold.audit.chain"  # Connection.info: this connection's ChainState
HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
LOCK_SPACE = 0x5AFE  # the advisory lock class id of audit chains (PostgreSQL)


@dataclass
class ChainState:
    """The chain a connection owns and its end: ``position``/``link`` as last committed,
    ``pending`` what this connection's open transaction has appended (not yet committed)."""

    chain: int
    position: int
    link: str
    pending: tuple[int, str] | None = None
    stale: bool = False  # read the head row again before the next append
    known: bool = True  # False: the end was read inside a transaction that has not committed
    lock_file: IO[bytes] | None = field(default=None, repr=False)

    def end(self) -> tuple[int, str]:
        return self.pending if self.pending is not None else (self.position, self.link)

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()  # ends the flock
            self.lock_file = None


def owned(conn: Connection) -> ChainState:
    """The chain ``conn`` appends to, claimed on first use; its end re-read if stale."""
    state = conn.info.get(_STATE)
    if state is None:
        state = _claim(conn)
        conn.info[_STATE] = state
    elif state.stale:
        _reread(conn, state)
    return state


def current(conn: Connection) -> ChainState | None:
    """The chain ``conn`` owns, if it has appended (or claimed) one."""
    return _state(conn)


def appended(state: ChainState, position: int, link: str) -> None:
    """Record entries appended up to ``position`` in the open transaction."""
    state.pending = (position, link)


def failed(state: ChainState) -> None:
    """An append failed: trust nothing in memory about the end any more."""
    state.pending, state.stale, state.known = None, True, False


def claim_exactly(conn: Connection, chain_id: int) -> ChainState:
    """Own chain ``chain_id`` (creating it if needed) instead of the lowest free one — for a
    migration sealing a given chain and for tests that need entries on a chosen chain. Fails
    if another connection owns it."""
    let_go(conn)
    held, lock_file = _lock(conn, chain_id)
    if not held:
        raise RuntimeError(f"audit chain {chain_id} is owned by another connection")
    state = _take(conn, chain_id, lock_file)
    conn.info[_STATE] = state
    return state


def let_go(conn: Connection) -> None:
    """Stop owning this connection's chain (if any)."""
    state = conn.info.pop(_STATE, None)
    if state is None:
        return
    state.release()
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_unlock(LOCK_SPACE, state.chain)))


def _claim(conn: Connection) -> ChainState:
    """Take the lowest-numbered chain nobody owns, or a new one if every chain is owned."""
    install(conn.engine)
    ids = list(conn.execute(select(HEADS.c.id).order_by(HEADS.c.id)).scalars())
    chain_id = 0
    for chain_id in [*ids, (ids[-1] + 1) if ids else 0]:
        held, lock_file = _lock(conn, chain_id)
        if held:
            return _take(conn, chain_id, lock_file)
    while True:  # every chain is owned and another connection is creating the next one
        chain_id += 1
        held, lock_file = _lock(conn, chain_id)
        if held:
            return _take(conn, chain_id, lock_file)


def _take(conn: Connection, chain_id: int, lock_file: IO[bytes] | None) -> ChainState:
    state = ChainState(chain_id, 0, GENESIS, lock_file=lock_file)
    if lock_file is not None:  # a connection dropped without the pool's close event
        weakref.finalize(state, lock_file.close)
    _reread(conn, state)
    return state


def _reread(conn: Connection, state: ChainState) -> None:
    """The chain's end from its head row (created if the chain is new; if the transaction
    that created it rolls back, the next append finds it stale and creates it again)."""
    row = conn.execute(
        select(HEADS.c.last_seq, HEADS.c.last_hash).where(HEADS.c.id == state.chain)
    ).first()
    if row is None:
        conn.execute(insert(HEADS).values(id=state.chain, last_seq=0, last_hash=GENESIS))
    # What the open transaction sees, its own appends included: the end once it commits. If
    # it rolls back instead, the committed end is unknown and is read again.
    state.pending = (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)
    state.stale, state.known = False, False


def _lock(conn: Connection, chain_id: int) -> tuple[bool, IO[bytes] | None]:
    """Try to own ``chain_id`` without waiting; on SQLite, the open lock file to keep."""
    if conn.dialect.name == "postgresql":
        query = select(func.pg_try_advisory_lock(LOCK_SPACE, chain_id))
        return bool(conn.execute(query).scalar_one()), None
    directory = _lock_dir(conn)
    if directory is None:  # an in-memory database: private to its one connection
        return True, None
    fd = os.open(directory / f"chain-{chain_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False, None
    return True, handle


def _lock_dir(conn: Connection) -> Path | None:
    database = conn.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    path = Path(database)
    directory = path.with_name(f".{path.name}.audit-chains")  # not matched by safehold.db*
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    return directory


# What moves or invalidates the end in memory: real commits and rollbacks of the connection,
# rolled-back savepoints, errors. Registered once for every engine.


def _state(conn: Connection) -> ChainState | None:
    """The connection's chain, or None — also for a connection that was invalidated (the
    database went away): its DBAPI connection is gone, and with it the chain it owned."""
    if conn.invalidated or conn.closed:
        return None
    try:
        state = conn.info.get(_STATE)
    except SQLAlchemyError:  # e.g. PendingRollbackError while the connection is replaced
        return None
    return state if isinstance(state, ChainState) else None


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    state = _state(conn)
    if state is not None and state.pending is not None:
        state.position, state.link = state.pending
        state.pending, state.known = None, True


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    state = _state(conn)
    if state is not None:
        state.pending = None
        state.stale = state.stale or not state.known


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    state = _state(conn)
    if state is not None and (state.pending is not None or not state.known):
        failed(state)


@event.listens_for(Engine, "handle_error")
def _on_error(context: ExceptionContext) -> None:
    # A failed statement or commit: the end may not be what memory says (a commit that
    # failed after the commit event moved it). Re-read before the next append.
    conn = context.connection
    state = _state(conn) if conn is not None else None
    if state is not None:
        failed(state)


def _close_lock(_dbapi_connection: Any, record: Any) -> None:
    state = record.info.get(_STATE) if record is not None else None
    if isinstance(state, ChainState):
        state.release()


def _close_lock_invalidated(dbapi_connection: Any, record: Any, _exception: Any) -> None:
    _close_lock(dbapi_connection, record)


def install(engine: Engine) -> None:
    """Let go of SQLite chain locks as soon as the pool closes or replaces a connection
    (PostgreSQL's advisory locks end with the server session by themselves)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine.pool, "close", _close_lock):
        event.listen(engine.pool, "close", _close_lock)
        event.listen(engine.pool, "invalidate", _close_lock_invalidated)


__all__ = [
    "ChainState",
    "appended",
    "claim_exactly",
    "current",
    "failed",
    "install",
    "let_go",
    "owned",
]
