"""A policy change is e-mailed only when the policy people accepted says changes are
announced by e-mail (`changes.notify`); the privacy center shows pending versions either way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import MailError
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.notices import service as notices
from safehold.notices import withdrawal
from safehold.notices.announce import WITHDRAWAL, announce
from safehold.notices.models import PolicyNotice
from safehold.policy import parse_policy
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY
from tests.integration.requests.support import person

V1 = DEFAULT_POLICY.read_text()
WITHOUT_EMAIL = V1.replace("notify: [email, privacy_center]", "notify: [privacy_center]")
OPERATOR = Actor("staff", "privacy-officer")


@pytest.mark.parametrize(("in_force", "emailed"), [(V1, 1), (WITHOUT_EMAIL, 0)])
def test_the_change_is_emailed_only_when_the_policy_in_force_says_so(
    runtime: Runtime, in_force: str, emailed: int
) -> None:
    assert WITHOUT_EMAIL != V1
    with transaction(runtime.sessions) as session:
        notices.publish(
            session, source=in_force, source_name="v1", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        runtime.book.load(session)
        shorter = in_force.replace("P30D\n    from: collected", "P20D\n    from: collected", 1)
        published = notices.publish(
            session, source=shorter,
            source_name="v2", effective_at=runtime.clock.now() + timedelta(days=1),
            requested_class=None, clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        ctx = comms.context(runtime)
        assert ctx.policy == parse_policy(in_force)
        sent = announce(session, ctx, published.version, actor=OPERATOR)
        assert (sent is not None) == bool(emailed)
        count = session.scalar(select(func.count()).select_from(Message))
    assert count == emailed


class SomeRefused:
    """A mail server that accepts every message except those to ``refused`` (for good)."""

    def __init__(self, refused: str) -> None:
        self.refused, self.delivered = refused, []  # type: tuple[str, list[str]]

    def connect(self) -> None:
        pass

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:  # noqa: ARG002
        if recipient == self.refused:
            raise MailError("smtp.rcpt.550", permanent=True)
        self.delivered.append(recipient)

    def close(self) -> None:
        pass


def test_a_withdrawal_stops_a_failed_notice_and_tells_only_who_got_one(
    runtime: Runtime,
) -> None:
    with transaction(runtime.sessions) as session:
        notices.publish(
            session, source=V1, source_name="v1", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        runtime.book.load(session)
    people = {tag: person(runtime, tag) for tag in ("Ada", "Bea", "Cleo")}
    ctx = comms.context(runtime)
    with transaction(runtime.sessions) as session:
        shorter = V1.replace("P30D\n    from: collected", "P20D\n    from: collected", 1)
        published = notices.publish(
            session, source=shorter, source_name="v2",
            effective_at=runtime.clock.now() + timedelta(days=3), requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        announce(session, ctx, published.version, actor=OPERATOR)
    server = SomeRefused("bea@example.com")
    comms_jobs.deliver(runtime.sessions, ctx, server)
    with runtime.sessions() as session:
        rows = session.execute(select(OutboxItem.subject_id, OutboxItem.status)).all()
    by_tag = {tag: next(s for sid, s in rows if sid == people[tag]) for tag in people}
    assert by_tag == {"Ada": "sent", "Bea": "failed", "Cleo": "sent"}

    with transaction(runtime.sessions) as session:
        row = withdrawal.withdraw(session, ctx, published.version.seq, actor=OPERATOR)
    assert (row.notices_stopped, row.people_told) == (1, 2)  # Bea's, never retried; Ada, Cleo
    with runtime.sessions() as session:
        change = session.scalars(
            select(OutboxItem).where(OutboxItem.message_id != _withdrawal_message(session))
        ).all()
        assert {(r.status, r.reason) for r in change if r.status != "sent"} == {
            ("skipped", withdrawal.STOPPED)
        }
        told = session.scalars(
            select(OutboxItem).where(OutboxItem.message_id == _withdrawal_message(session))
        ).all()
        assert {r.subject_id for r in told} == {people["Ada"], people["Cleo"]}
        message_id = change[0].message_id
    with transaction(runtime.sessions) as session:  # a failed notice is not queued again
        assert comms.requeue_failed(session, message_id, clock=runtime.clock) == 0
    runtime.book.load(runtime.sessions())
    assert runtime.book.latest() is not None
    assert runtime.book.latest().facts.seq == 1  # type: ignore[union-attr]


def _withdrawal_message(session: Session) -> object:
    return session.scalar(select(PolicyNotice.message_id).where(PolicyNotice.kind == WITHDRAWAL))
