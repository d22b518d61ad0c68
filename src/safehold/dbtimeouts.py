"""Bounded waits on PostgreSQL, so a database that stops answering costs a 503, not the server.

A database behind a network partition, or a proxy that still accepts connections but no
longer forwards them, answers nothing: without bounds every request waits forever, the
thread pool fills, and even ``/healthz`` stops answering (review F10, decision 0020).

- Every connection: libpq's ``connect_timeout``, TCP keepalives and ``tcp_user_timeout``
  (a peer that stops acknowledging is dropped), and the pool's own ``pool_timeout``. None
  of these can cut short a long statement the database is still working on.
- Statements run on behalf of an HTTP request (:class:`RequestDeadline` marks them): the
  server-side ``statement_timeout`` (``SET LOCAL`` at the start of each transaction), and a
  client-side deadline a little longer, for the case the server cannot even be told: a
  watchdog shuts the connection's socket down, the wait fails as a lost connection, and the
  pool replaces the connection.

Background work (jobs, the CLI, migrations) has no statement bound: an analytics roll-up or
an index build may legitimately take minutes. A partition still ends its waits through the
TCP settings.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Receive, Scope, Send

from safehold.logs import get_logger

log = get_logger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to open a connection (TCP, TLS, authentication)
DEFAULT_STATEMENT_TIMEOUT = 15.0  # seconds per statement of an HTTP request
DEFAULT_POOL_TIMEOUT = 10.0  # seconds a request waits for a free pooled connection
# The client gives the server this much longer than statement_timeout, so that a reachable
# server cancels the statement itself (a clean error, the connection kept).
CLIENT_GRACE = 1.0
# TCP: probe an idle connection after 10 s, every 5 s, give up after 3 unanswered probes;
# data left unacknowledged as long as that (25 s) also ends the connection.
KEEPALIVES_IDLE, KEEPALIVES_INTERVAL, KEEPALIVES_COUNT = 10, 5, 3
TCP_USER_TIMEOUT_MS = (KEEPALIVES_IDLE + KEEPALIVES_INTERVAL * KEEPALIVES_COUNT) * 1000
WATCHDOG_TICK = 0.25  # seconds between the watchdog's looks at the waits in progress


@dataclass(frozen=True)
class DatabaseTimeouts:
    connect: float = DEFAULT_CONNECT_TIMEOUT
    statement: float = DEFAULT_STATEMENT_TIMEOUT
    pool: float = DEFAULT_POOL_TIMEOUT


def connect_args(timeouts: DatabaseTimeouts) -> dict[str, Any]:
    """libpq parameters for every connection (no statement timeout: see the docstring)."""
    return {
        "connect_timeout": max(2, round(timeouts.connect)),  # libpq: whole seconds, at least 2
        "keepalives": 1,
        "keepalives_idle": KEEPALIVES_IDLE,
        "keepalives_interval": KEEPALIVES_INTERVAL,
        "keepalives_count": KEEPALIVES_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }


# The statement timeout (seconds) of the work running in this context; None: unbounded.
_statement_bound: ContextVar[float | None] = ContextVar("safehold_statement_bound", default=None)


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Bound the statements run in this context, and in the threads it hands work to
    (``anyio.to_thread`` copies the context), to ``seconds`` each."""
    token = _statement_bound.set(seconds)
    try:
        yield
    finally:
        _statement_bound.reset(token)


class RequestDeadline:
    """Pure ASGI middleware: every statement run for an HTTP request is bounded."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with bounded(self.seconds):
            await self.app(scope, receive, send)


def install(engine: Engine) -> None:
    """Make ``engine``'s connections honour :func:`bounded` (PostgreSQL, psycopg 3)."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return _BoundedConnection.connect(*cargs, **cparams)

    @event.listens_for(engine, "begin")
    def _statement_timeout(conn: Any) -> None:
        seconds = _statement_bound.get()
        if seconds is not None:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {round(seconds * 1000)}")


class _BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server (statements, commit, rollback,
    the pool's ping) is watched while a statement bound is in force."""

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        seconds = _statement_bound.get()
        if seconds is None:
            return super().wait(gen, *args, **kwargs)
        with _WATCHDOG.watching(self, seconds + CLIENT_GRACE):
            return super().wait(gen, *args, **kwargs)


@dataclass(eq=False)
class _Wait:
    connection: psycopg.Connection[Any]
    deadline: float
    seconds: float


class _Watchdog:
    """One daemon thread that cuts the connections whose wait passed its deadline. Each
    thread waits on one connection at a time, so the set it scans stays small."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waits: set[_Wait] = set()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, connection: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
        wait = _Wait(connection, time.monotonic() + seconds, seconds)
        with self._lock:
            self._waits.add(wait)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="safehold-db-watchdog", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._waits.discard(wait)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK)
            now = time.monotonic()
            with self._lock:  # held while cutting: a wait that ends meanwhile is not cut
                for wait in [w for w in self._waits if w.deadline <= now]:
                    self._waits.discard(wait)
                    _cut(wait.connection)
                    log.warning("database_deadline_exceeded", seconds=wait.seconds)


def _cut(connection: psycopg.Connection[Any]) -> None:
    """Shut the connection's socket down: the blocked wait sees the connection end, the
    pool discards it. A duplicate descriptor is used, so libpq's own stays valid."""
    try:
        with socket.socket(fileno=os.dup(connection.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass  # already closed


_WATCHDOG = _Watchdog()
