"""A recipient's webhook receiver is down when an erasure must be passed on (GDPR Art. 19):
the notice stays queued with the attempt and the error counted, and once the receiver is
back on the same address the next due round delivers it, signed, exactly once — nobody has
to retry it by hand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.sharing import jobs, propagation, rules, service, webhooks
from safehold.sharing.models import Propagation
from safehold.subjects.service import Context
from tests.conftest import DEFAULT_POLICY
from tests.faults.conftest import free_port
from tests.integration.comms.support import register
from tests.integration.sharing.receiver import Receiver

SECRET = webhooks.new_secret()
PORT = free_port()
STAFF = Actor("admin", "privacy-team")


@contextmanager
def receiver_on(receiver: Receiver, port: int) -> Iterator[Receiver]:
    """The test receiver (it checks every signature) on a fixed port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(receiver.handle(self.headers, raw))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    hooks = {"payment_processor": {"url": f"http://127.0.0.1:{PORT}/hooks", "secret": SECRET}}
    return Settings(data_dir=tmp_path, policy=DEFAULT_POLICY, recipient_webhooks=json.dumps(hooks))


def test_a_receiver_down_then_up_gets_the_notice_by_itself(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    ctx = Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        service.disclose(
            session, ctx, actor=STAFF, recipient="payment_processor", purpose="service_provision",
            subject_ids=[ada], categories=["account.email"], reference=None,
        )  # fmt: skip
        (notice,) = propagation.notify_erasure(
            session, ada, policy=runtime.policy, clock=clock, actor=STAFF
        )
        notice_id = notice.id

    down = jobs.deliver_due(runtime, timeout=1.0)  # nobody listens on the port
    assert (down.attempted, down.delivered) == (1, 0)
    assert list(down.errors) == ["transport error: ConnectError"]
    with runtime.sessions() as session:
        row = session.scalars(select(Propagation).where(Propagation.id == notice_id)).first()
        assert row is not None
        assert (row.state, row.attempts) == ("queued", 1)
    assert jobs.deliver_due(runtime, timeout=1.0).attempted == 0  # backing off

    received = Receiver(SECRET, now=lambda: int(clock.now().timestamp()))
    with receiver_on(received, PORT):  # the fault clears
        clock.advance(rules.backoff(1))
        up = jobs.deliver_due(runtime, timeout=5.0)
        assert (up.attempted, up.delivered) == (1, 1)
        clock.advance(rules.backoff(rules.MAX_ATTEMPTS))
        assert jobs.deliver_due(runtime, timeout=5.0).attempted == 0
    assert [(r.authentic, r.duplicate) for r in received.received] == [(True, False)]
    assert received.received[0].notice_id
    with runtime.sessions() as session:
        row = session.scalars(select(Propagation).where(Propagation.id == notice_id)).first()
        assert row is not None
        assert (row.state, row.attempts) == ("acknowledged", 2)
