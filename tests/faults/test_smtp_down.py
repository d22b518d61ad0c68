"""The SMTP server goes down with mail queued and comes back on the same address: the
worker's outbox job defers (``smtp.unreachable``, the attempt counted, nothing lost and
nothing marked sent), then delivers on its own once the retry is due — no one has to queue
anything again — and each person gets exactly one copy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.comms import jobs, rules
from safehold.comms.models import OutboxItem
from safehold.config import Settings
from safehold.runtime import Runtime
from tests.faults.conftest import free_port
from tests.integration.comms.smtp import Inbox, SmtpServer
from tests.integration.comms.support import comms_settings, counts, enqueue, register

PORT = free_port()


@contextmanager
def smtp_on(port: int) -> Iterator[Inbox]:
    """An SMTP server on a fixed port, so that "back up" means the same address."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return comms_settings(tmp_path, SmtpServer("127.0.0.1", PORT, Inbox()), smtp_timeout=2.0)


def test_smtp_down_then_up_means_deferral_then_delivery_by_itself(
    runtime: Runtime, clock: FrozenClock
) -> None:
    with smtp_on(PORT):
        ada = register(runtime, "Ada Quillfeather", "ada@example.com")
        bo = register(runtime, "Bo Brightwater", "bo@example.net")
        message_id = enqueue(runtime, "service_update", [ada, bo])
    # The server is down now (stopped, port closed): the worker's round defers everything.
    assert jobs.run(runtime) == 2
    assert counts(runtime, message_id) == {"queued": 2}
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert {(r.attempts, r.reason) for r in rows} == {(1, "smtp.unreachable")}
    assert jobs.run(runtime) == 0  # backing off: nothing is due, nothing is hammered

    with smtp_on(PORT) as inbox:  # the fault clears
        clock.advance(rules.RETRY_DELAYS[0])
        assert jobs.run(runtime) == 2
        assert counts(runtime, message_id) == {"sent": 2}
        assert sorted(m["To"] for m in inbox.messages()) == ["ada@example.com", "bo@example.net"]
        clock.advance(rules.RETRY_DELAYS[-1])
        assert jobs.run(runtime) == 0  # nothing sent twice
        assert len(inbox.messages()) == 2
