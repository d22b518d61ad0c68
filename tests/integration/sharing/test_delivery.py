"""Webhook delivery to a real HTTP receiver on loopback that fails, delays and then accepts,
and checks every signature on its side."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.runtime import Runtime
from safehold.sharing import jobs, propagation, rules, service, webhooks
from safehold.sharing.models import Propagation
from safehold.subjects.service import Context
from safehold.worker import Worker, registered_jobs
from tests.integration.sharing.conftest import BACK_END, STAFF, Person
from tests.integration.sharing.receiver import Receiver, serve

SECRET = webhooks.new_secret()
TIMEOUT = 0.5  # seconds; the receiver's "delay" takes longer


def with_webhooks(settings: Settings, targets: dict[str, dict[str, str]]) -> Settings:
    return Settings(
        data_dir=settings.data_dir, policy=settings.policy, recipient_webhooks=json.dumps(targets)
    )


@pytest.fixture
def receiver(clock: FrozenClock) -> Iterator[Receiver]:
    with serve(Receiver(SECRET, now=lambda: int(clock.now().timestamp()))) as r:
        yield r


@pytest.fixture
def hooked(runtime: Runtime, settings: Settings, receiver: Receiver) -> Runtime:
    """The runtime with a webhook for the payment processor only (e-mail delivery: manual)."""
    targets = {"payment_processor": {"url": receiver.url, "secret": SECRET}}
    return Runtime(
        settings=with_webhooks(settings, targets), engine=runtime.engine, sessions=runtime.sessions,
        policy=runtime.policy, vault=runtime.vault, clock=runtime.clock,
    )  # fmt: skip


def erased_after_sharing(session: Session, ctx: Context, who: uuid.UUID) -> list[Propagation]:
    for recipient in ("payment_processor", "email_delivery"):
        service.disclose(
            session, ctx, actor=BACK_END, recipient=recipient, purpose="service_provision",
            subject_ids=[who], categories=["account.email"], reference=None,
        )  # fmt: skip
    made = propagation.notify_erasure(session, who, policy=ctx.policy, clock=ctx.clock, actor=STAFF)
    session.commit()
    return made


def state_of(session: Session, notice_id: uuid.UUID) -> Propagation:
    session.expire_all()
    row = session.scalars(select(Propagation).where(Propagation.id == notice_id)).one()
    assert row is not None
    return row


def test_fails_then_times_out_then_is_acknowledged_with_valid_signatures(
    session: Session, ctx: Context, person: Person, hooked: Runtime, receiver: Receiver,
    clock: FrozenClock,
) -> None:  # fmt: skip
    ada = person()
    made = {p.recipient_id: p.id for p in erased_after_sharing(session, ctx, ada)}
    receiver.script = ["fail", "delay", "accept"]

    first = jobs.deliver_due(hooked, timeout=TIMEOUT)
    assert (first.attempted, first.delivered, first.errors) == (1, 0, {"HTTP 503": 1})
    notice = state_of(session, made["payment_processor"])
    assert (notice.state, notice.attempts, notice.last_error) == ("queued", 1, "HTTP 503")
    assert notice.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert jobs.deliver_due(hooked, timeout=TIMEOUT).attempted == 0  # not due yet

    clock.advance(timedelta(seconds=30))
    second = jobs.deliver_due(hooked, timeout=TIMEOUT)
    assert second.errors == {"timeout": 1}
    notice = state_of(session, made["payment_processor"])
    assert (notice.state, notice.attempts, notice.last_error) == ("queued", 2, "timeout")
    assert notice.next_attempt_at == clock.now() + timedelta(minutes=1)

    clock.advance(timedelta(minutes=1))
    third = jobs.deliver_due(hooked, timeout=TIMEOUT)
    assert (third.attempted, third.delivered) == (1, 1)
    notice = state_of(session, made["payment_processor"])
    assert (notice.state, notice.attempts, notice.last_error) == ("acknowledged", 3, None)
    assert notice.acknowledged_by == "webhook:HTTP 200"
    assert notice.acknowledged_at == clock.now()

    # The receiver's side: three authentic deliveries of one notice, fresh timestamps, and
    # the one it finished after the sender gave up is recognised when it comes again.
    assert [r.authentic for r in receiver.received] == [True, True, True]
    assert {r.notice_id for r in receiver.received} == {str(made["payment_processor"])}
    assert len({r.timestamp for r in receiver.received}) == 3
    assert [r.duplicate for r in receiver.received] == [False, False, True]
    body = receiver.received[-1].body
    assert body["type"] == "subject.erased"
    assert body["data"]["subject_id"] == str(ada)
    assert body["data"]["action"] == "erase"
    assert body["data"]["categories"] == ["account.email"]
    assert "quillfeather" not in json.dumps(body).lower()  # ids and categories, never values

    manual = state_of(session, made["email_delivery"])  # no webhook: left for staff
    assert (manual.state, manual.attempts) == ("queued", 0)


def test_retries_give_up_after_the_last_attempt_and_staff_take_over(
    session: Session, ctx: Context, person: Person, hooked: Runtime, receiver: Receiver,
    clock: FrozenClock,
) -> None:  # fmt: skip
    ada = person()
    made = {p.recipient_id: p.id for p in erased_after_sharing(session, ctx, ada)}
    receiver.script = ["fail"] * rules.MAX_ATTEMPTS
    for attempt in range(1, rules.MAX_ATTEMPTS + 1):
        report = jobs.deliver_due(hooked, timeout=TIMEOUT)
        assert report.attempted == 1
        clock.advance(rules.backoff(attempt))
    assert report.gave_up == 1
    notice = state_of(session, made["payment_processor"])
    assert (notice.state, notice.attempts, notice.next_attempt_at) == (
        "failed", rules.MAX_ATTEMPTS, None,
    )  # fmt: skip
    assert jobs.deliver_due(hooked, timeout=TIMEOUT).attempted == 0
    pending = propagation.list_propagations(session, now=clock.now(), status="pending")
    assert notice.id in {p.id for p in pending}

    propagation.retry(session, notice.id, clock=clock)
    session.commit()
    assert jobs.deliver_due(hooked, timeout=TIMEOUT).delivered == 1
    assert state_of(session, notice.id).state == "acknowledged"


def test_a_receiver_with_another_secret_refuses_and_the_attempt_counts_as_failed(
    session: Session, ctx: Context, person: Person, hooked: Runtime, receiver: Receiver,
) -> None:  # fmt: skip
    ada = person()
    made = {p.recipient_id: p.id for p in erased_after_sharing(session, ctx, ada)}
    receiver.secret = webhooks.new_secret()
    report = jobs.deliver_due(hooked, timeout=TIMEOUT)
    assert report.errors == {"HTTP 401": 1}
    assert receiver.received[0].authentic is False
    assert state_of(session, made["payment_processor"]).state == "queued"


def test_an_unreachable_endpoint_is_a_failed_attempt(
    session: Session, ctx: Context, person: Person, runtime: Runtime, settings: Settings,
) -> None:  # fmt: skip
    ada = person()
    erased_after_sharing(session, ctx, ada)
    closed_port = {"payment_processor": {"url": "http://127.0.0.1:9/", "secret": SECRET}}
    nowhere = Runtime(
        settings=with_webhooks(settings, closed_port),
        engine=runtime.engine, sessions=runtime.sessions, policy=runtime.policy,
        vault=runtime.vault, clock=runtime.clock,
    )  # fmt: skip
    report = jobs.deliver_due(nowhere, timeout=TIMEOUT)
    assert report.errors == {"transport error: ConnectError": 1}


def test_a_claimed_notice_is_not_claimed_again_until_its_lease_ends(
    session: Session, ctx: Context, person: Person, hooked: Runtime, clock: FrozenClock,
) -> None:  # fmt: skip
    ada = person()
    erased_after_sharing(session, ctx, ada)
    lease = timedelta(minutes=5)
    first = jobs._claim(hooked.sessions, ["payment_processor"], clock.now(), 10, lease)
    assert len(first) == 1
    assert jobs._claim(hooked.sessions, ["payment_processor"], clock.now(), 10, lease) == []
    clock.advance(lease)  # the worker died: the claim expires on its own
    again = jobs._claim(hooked.sessions, ["payment_processor"], clock.now(), 10, lease)
    assert [c.attempts for c in again] == [2]


def test_without_any_webhook_nothing_is_sent(
    session: Session, ctx: Context, person: Person, runtime: Runtime
) -> None:
    ada = person()
    erased_after_sharing(session, ctx, ada)
    assert jobs.deliver_due(runtime) == jobs.DeliveryReport()


def test_the_worker_runs_delivery_as_a_registered_job(
    session: Session, ctx: Context, person: Person, hooked: Runtime, receiver: Receiver,
) -> None:  # fmt: skip
    ada = person()
    made = {p.recipient_id: p.id for p in erased_after_sharing(session, ctx, ada)}
    [job] = [j for j in registered_jobs() if j.name == "sharing.notices"]
    assert job.run is jobs.run
    assert Worker(hooked, [job]).drain() == 0
    assert state_of(session, made["payment_processor"]).state == "acknowledged"
    assert jobs.run(hooked) == 0  # idle: the worker waits its interval


def test_a_batch_is_sent_concurrently_and_every_notice_is_recorded(
    session: Session, ctx: Context, person: Person, hooked: Runtime, receiver: Receiver,
) -> None:  # fmt: skip
    people = [person(f"Pat Example{i}") for i in range(7)]
    notices = [erased_after_sharing(session, ctx, who) for who in people]
    receiver.script = ["fail", "accept", "accept", "fail", "accept", "accept", "accept"]
    report = jobs.deliver_due(hooked, timeout=TIMEOUT, batch_size=5, concurrency=3)
    assert (report.attempted, report.delivered, report.failed_attempts) == (7, 5, 2)
    assert len(receiver.received) == 7
    assert all(r.authentic for r in receiver.received)
    states = sorted(
        state_of(session, p.id).state for made in notices for p in made
        if p.recipient_id == "payment_processor"
    )  # fmt: skip
    assert states == ["acknowledged"] * 5 + ["queued"] * 2
