"""The database stops answering without closing anything (a partition behind a proxy): a
forwarder between `safehold serve` and a private PostgreSQL keeps every connection open,
accepts new ones, and drops every byte for a while.

Requests answer 503 ``database_unavailable`` within a bound set by the configured timeouts
(they used to hang for good), ``/healthz`` answers at once even with more requests in
flight than the server has threads, ``/readyz`` says not ready within its own bound, and
when forwarding resumes the same process serves again by itself (review F10)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from safehold.dbtimeouts import CLIENT_GRACE
from safehold.ops.routes import READINESS_TIMEOUT
from tests.deployment import Deployment, deploy
from tests.faults.conftest import PrivatePostgres, free_port

STATEMENT, CONNECT, POOL = 2, 2, 2  # seconds: SAFEHOLD_DB_STATEMENT/CONNECT/POOL_TIMEOUT
# A request's worst case: its pooled connection's ping cut by the watchdog, a new
# connection that times out, and a wait for the pool; three times that for a loaded
# 2-core machine (and for the requests queued behind the 40 request threads).
BOUND = 3 * (STATEMENT + CLIENT_GRACE + CONNECT + POOL)
IN_FLIGHT = 45  # more than the server's 40 request threads
ROKU = "Roku/DVP-12.0 (12.0.0.4182-88)"


class Forwarder:
    """TCP from 127.0.0.1:<port> to 127.0.0.1:<upstream>. Stopped, it keeps every
    connection open and accepts new ones, but reads and drops every byte."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                return
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.forwarding.is_set():
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for end in self.sockets:
            end.close()


@contextmanager
def forwarder_to(port: int) -> Iterator[Forwarder]:
    forwarder = Forwarder(port)
    try:
        yield forwarder
    finally:
        forwarder.close()


def send_event(base: str, token: str) -> tuple[int, str, float]:
    """POST one event; (status, error code, seconds taken)."""
    started = time.monotonic()
    event = {"name": "channel.play", "anonymous_id": "tv-1", "properties": {"channel_id": "ch-1"}}
    response = httpx.post(
        f"{base}/v1/events", headers={"Authorization": f"Bearer {token}"},
        json={"events": [event], "context": {"user_agent": ROKU}}, timeout=120,
    )  # fmt: skip
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    return response.status_code, code, time.monotonic() - started


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = httpx.get(url, timeout=60).status_code
    return status, time.monotonic() - started


def test_a_blackholed_database_answers_503_in_bounded_time_and_heals(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    pg = private_postgres
    deployment: Deployment = deploy(tmp_path / "var", pg.url)
    with forwarder_to(pg.port) as forwarder:
        deployment.env |= {
            "SAFEHOLD_DATABASE_URL": pg.url.replace(str(pg.port), str(forwarder.port)),
            "SAFEHOLD_DB_STATEMENT_TIMEOUT": str(STATEMENT),
            "SAFEHOLD_DB_CONNECT_TIMEOUT": str(CONNECT),
            "SAFEHOLD_DB_POOL_TIMEOUT": str(POOL),
        }
        try:
            port = free_port()
            deployment.serve(port)
            base = f"http://127.0.0.1:{port}"
            with ThreadPoolExecutor(8) as warm:  # several pooled connections, all healthy
                assert {s for s, _, _ in warm.map(lambda _: send_event(base, deployment.token),
                                                   range(16))} == {202}  # fmt: skip

            forwarder.forwarding.clear()
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                hung = [pool.submit(send_event, base, deployment.token) for _ in range(IN_FLIGHT)]
                time.sleep(1.0)  # every request thread is now waiting on the database
                health = [timed_get(f"{base}/healthz") for _ in range(5)]
                ready = timed_get(f"{base}/readyz")
                scrape = timed_get(f"{base}/metrics")
                answers = [future.result() for future in hung]
            forwarder.forwarding.set()

            assert all(status == 200 and took < 1.0 for status, took in health), health
            assert ready[0] == 503
            assert ready[1] < READINESS_TIMEOUT + 2.0, ready
            assert scrape[0] == 200
            assert scrape[1] < BOUND, scrape
            assert {(status, code) for status, code, _ in answers} == {
                (503, "database_unavailable")
            }, answers
            slowest = max(took for _, _, took in answers)
            assert slowest < BOUND, f"slowest 503 after {slowest:.1f} s (bound {BOUND} s)"

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and timed_get(f"{base}/readyz")[0] != 200:
                time.sleep(0.2)
            assert timed_get(f"{base}/readyz")[0] == 200
            assert send_event(base, deployment.token)[0] == 202
            assert deployment.procs[0].poll() is None  # the same process, healed by itself
            log = deployment.log.read_text()
            assert "unhandled_error" not in log, log[-3000:]
            assert "database_deadline_exceeded" in log
        finally:
            deployment.close()
