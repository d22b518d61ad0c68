"""Reliability: `safehold serve` is killed with SIGKILL in the middle of sustained ingestion,
started again, and the client retries what was not acknowledged. Every event that got a 202
is stored, and every event is stored exactly once — with two connections sending the same
batches in different orders, so the ids also race each other.

Bounded for CI: a few thousand events, one kill, on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from safehold.client import Client, Context, Event, Retry
from safehold.events import storage
from safehold.runtime import Runtime
from tests.deployment import Deployment, deploy

BATCHES, PER_BATCH, PEOPLE = 12, 100, 6
ROKU = "Roku/DVP-12.0 (12.0.0.4182-88)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    database_url = None
    if request.param == "postgresql":
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        database_url = make().render_as_string(hide_password=False)
    found = deploy(tmp_path / "var", database_url, people=PEOPLE)
    yield found
    found.close()


class CountingTransport(httpx.HTTPTransport):
    """A real transport that counts the attempts that failed on the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError:
            self.failures += 1
            raise


def batches(people: list[uuid.UUID]) -> list[list[Event]]:
    return [
        [
            Event("channel.play", subject_id=people[(b * PER_BATCH + i) % len(people)],
                  properties={"channel_id": f"ch-{i % 12}", "duration_s": i})
            for i in range(PER_BATCH)
        ]
        for b in range(BATCHES)
    ]  # fmt: skip


def stored_ids(runtime: Runtime) -> list[uuid.UUID]:
    with runtime.sessions() as session:
        return list(session.scalars(select(storage.EVENTS.c.event_id)))


def test_a_killed_server_loses_nothing_acknowledged_and_stores_nothing_twice(
    deployment: Deployment,
) -> None:
    port = free_port()
    server = deployment.serve(port)
    work = batches(deployment.people)
    # Two connections send the same batches in different orders (a retrying client and a
    # duplicate sender), so ids race each other before, during and after the kill.
    orders = [work, work[1::2] + work[::2]]
    transports = [CountingTransport() for _ in orders]
    acknowledged: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def send_all(order: list[list[Event]], transport: CountingTransport) -> None:
        client = Client(f"http://127.0.0.1:{port}", deployment.token, transport=transport,
                        retry=Retry(attempts=200, base=0.02, cap=0.2), timeout=5)  # fmt: skip
        try:
            for batch in order:
                result = client.send(batch, context=Context(user_agent=ROKU, ip="192.0.2.8"))
                assert all(r.stored for r in result.results), result.rejected
                acknowledged.extend(r.event_id for r in result.results if r.event_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            client.close()

    senders = [
        threading.Thread(target=send_all, args=pair)
        for pair in zip(orders, transports, strict=True)
    ]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 4 * PER_BATCH and time.monotonic() < deadline:
        time.sleep(0.005)
    before_kill = len(acknowledged)
    server.send_signal(signal.SIGKILL)  # no shutdown, no flush: the process just stops
    server.wait(timeout=10)
    time.sleep(0.3)  # the clients keep retrying against a closed port meanwhile
    deployment.serve(port)
    for sender in senders:
        sender.join(timeout=120)

    assert not errors, errors
    assert before_kill < len(orders) * BATCHES * PER_BATCH, "the kill came after the last batch"
    assert sum(t.failures for t in transports) > 0, "no request was cut off by the kill"
    sent = {e.event_id for batch in work for e in batch}
    ids = stored_ids(deployment.runtime)
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert set(acknowledged) <= set(ids), "an acknowledged event was lost"
    assert set(ids) == sent
