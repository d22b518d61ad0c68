"""Art. 19 notices: queued in the same transaction as the erasure, restriction or correction,
for exactly the recipients that received the person's data; acknowledged per recipient."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.clock import FrozenClock
from safehold.sharing import propagation, service
from safehold.sharing.errors import PropagationNotFound, PropagationStateConflict
from safehold.sharing.models import Propagation
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.service import Context
from tests.integration.sharing.conftest import BACK_END, STAFF, Person

PAY, MAIL, AUTH = "payment_processor", "email_delivery", "authorities"


def share(session: Session, ctx: Context, who: uuid.UUID) -> None:
    for recipient, purpose, categories, reference in (
        (PAY, "service_provision", ["account.payment", "account.name"], None),
        (PAY, "service_provision", ["account.email"], None),
        (MAIL, "service_provision", ["account.email"], None),
        (AUTH, "legal_obligation", ["account.address"], "Case 5/2026"),
    ):
        service.disclose(
            session, ctx, actor=BACK_END, recipient=recipient, purpose=purpose,
            subject_ids=[who], categories=categories, reference=reference,
        )  # fmt: skip


def notices(session: Session, who: uuid.UUID) -> dict[tuple[str, str], list[str]]:
    rows = session.scalars(select(Propagation).where(Propagation.subject_id == who))
    return {(r.recipient_id, r.event): r.categories for r in rows}


def test_an_erasure_reaches_every_processor_that_received_data_once(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    share(session, ctx, ada)
    made = propagation.notify_erasure(session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF)
    assert notices(session, ada) == {
        (PAY, "erasure"): ["account.email", "account.name", "account.payment"],
        (MAIL, "erasure"): ["account.email"],
    }  # the authorities are exempt in the policy (notify_on_erasure: false)
    first = made[0]
    assert (first.state, first.attempts, first.created_by) == ("queued", 0, "admin:privacy-team")
    assert first.next_attempt_at == ctx.clock.now()
    assert first.due_at.date().isoformat() == "2026-04-02"  # the request deadline, one month
    # A resumed erasure job calls it again: nothing new, even once acknowledged.
    propagation.acknowledge(session, first.id, actor=STAFF, clock=ctx.clock)
    assert (
        propagation.notify_erasure(session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF)
        == []
    )


def test_nobody_is_told_about_a_person_whose_data_went_nowhere(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    assert (
        propagation.notify_erasure(session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF)
        == []
    )


def test_a_correction_notifies_the_recipients_of_the_changed_category_only(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    share(session, ctx, ada)
    subjects.rectify(
        session, ctx, ada, actor=BACK_END, source="person",
        contact=subject_rules.contact(phone="+44 20 7946 0000"),
    )  # fmt: skip
    assert notices(session, ada) == {}  # nobody received the phone number
    subjects.rectify(
        session, ctx, ada, actor=BACK_END, source="person",
        contact=subject_rules.contact(email="ada.q@example.net"),
    )  # fmt: skip
    assert notices(session, ada) == {
        (PAY, "rectification"): ["account.email"],
        (MAIL, "rectification"): ["account.email"],
    }
    subjects.rectify(
        session, ctx, ada, actor=BACK_END, source="operator",
        contact=subject_rules.contact(name="Ada Q. Quillfeather"),
    )  # fmt: skip
    rows = session.scalars(
        select(Propagation).where(Propagation.subject_id == ada, Propagation.recipient_id == PAY)
    ).all()
    assert sorted(r.categories[0] for r in rows) == ["account.email", "account.name"]


def test_a_restriction_is_not_repeated_while_outstanding(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    share(session, ctx, ada)
    made = propagation.notify_restriction(
        session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF
    )
    assert sorted(p.recipient_id for p in made) == [MAIL, PAY]
    assert (
        propagation.notify_restriction(
            session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF
        )
        == []
    )
    for p in made:
        propagation.acknowledge(session, p.id, actor=STAFF, clock=ctx.clock)
    again = propagation.notify_restriction(
        session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF
    )  # restricted again after being lifted: a new notice
    assert len(again) == 2


def test_staff_acknowledge_and_retry_as_the_states_allow(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    share(session, ctx, ada)
    notice = propagation.notify_erasure(
        session, ada, policy=ctx.policy, clock=ctx.clock, actor=STAFF
    )[0]
    with pytest.raises(PropagationStateConflict):
        propagation.retry(session, notice.id, clock=ctx.clock)  # it has not given up
    notice.state, notice.attempts, notice.next_attempt_at = "failed", 16, None
    retried = propagation.retry(session, notice.id, clock=ctx.clock)
    assert (retried.state, retried.attempts, retried.next_attempt_at) == (
        "queued", 0, ctx.clock.now(),
    )  # fmt: skip
    done = propagation.acknowledge(session, notice.id, actor=STAFF, clock=ctx.clock)
    assert (done.state, done.acknowledged_by) == ("acknowledged", "admin:privacy-team")
    assert done.next_attempt_at is None
    with pytest.raises(PropagationStateConflict) as twice:
        propagation.acknowledge(session, notice.id, actor=STAFF, clock=ctx.clock)
    assert twice.value.details == {"state": "acknowledged", "step": "staff_ack"}
    with pytest.raises(PropagationNotFound):
        propagation.acknowledge(session, uuid.uuid4(), actor=STAFF, clock=ctx.clock)


def test_pending_lists_what_is_outstanding_and_marks_what_is_overdue(
    session: Session, ctx: Context, person: Person, clock: FrozenClock
) -> None:
    ada, bo = person(), person("Bo Tumbleweed")
    share(session, ctx, ada)
    share(session, ctx, bo)
    first = propagation.notify_erasure(session, ada, policy=ctx.policy, clock=clock, actor=STAFF)
    clock.advance(timedelta(days=20))
    second = propagation.notify_erasure(session, bo, policy=ctx.policy, clock=clock, actor=STAFF)
    first[0].state = "failed"  # gave up: still outstanding
    propagation.acknowledge(session, second[0].id, actor=STAFF, clock=clock)

    def ids(**kwargs: object) -> set[uuid.UUID]:
        rows = propagation.list_propagations(session, now=clock.now(), **kwargs)  # type: ignore[arg-type]
        return {r.id for r in rows}

    assert ids(status="pending") == {first[0].id, first[1].id, second[1].id}
    assert ids(status="acknowledged") == {second[0].id}
    assert len(ids(status="all")) == 4
    assert ids(status="pending", overdue=True) == set()
    clock.advance(timedelta(days=15))  # the first person's notices are past their month
    assert ids(status="pending", overdue=True) == {first[0].id, first[1].id}
    assert ids(status="pending", subject_id=bo) == {second[1].id}
    mail = {r.id for r in (*first, *second) if r.recipient_id == MAIL}
    assert len(mail) == 2
    assert ids(status="all", recipient=MAIL) == mail
