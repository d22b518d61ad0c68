"""A phone number may be a household's: a look-up by phone finds everyone holding it whom
the purpose may know of, oldest account first, each decided and audited as the single
look-up decides its one; a person the purpose may not use stays invisible (decision 0018),
and the API's single look-up answers the oldest account (decision 0033)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.runtime import Runtime
from safehold.subjects import rules, service
from safehold.subjects.errors import NoPersonFound

CRM = Actor("api_key", "crm")
LINE = "+442079460321"  # fictional (Ofcom's drama range), as the API normalises it (E.164)


def ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


@pytest.fixture
def household(session: Session, runtime: Runtime) -> list[uuid.UUID]:
    """Ada, then (a minute later) Bo, both on the same line."""
    made = []
    for name in ("ada", "bo"):
        made.append(service.register(
            session, ctx(runtime), actor=CRM, marketing_opt_in=False, policy_version="test",
            contact=rules.contact(name=f"{name} Example", email=f"{name}@example.com",
                                  phone=LINE),
        ).id)  # fmt: skip
        clock = runtime.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(timedelta(minutes=1))
    return made


def lookups(session: Session) -> list[tuple[uuid.UUID | None, str]]:
    query = select(AuditEntry).where(AuditEntry.action == service.LOOKUP).order_by(AuditEntry.seq)
    return [(e.subject_id, e.outcome) for e in session.scalars(query)]


def test_everyone_on_the_line_is_found_oldest_first_each_audited(
    session: Session, runtime: Runtime, household: list[uuid.UUID]
) -> None:
    found = service.lookup_all(
        session, ctx(runtime), actor=CRM, purpose="communication.service", phone=LINE
    )
    assert [s.id for s in found] == household
    assert lookups(session) == [(household[0], "ok"), (household[1], "ok")]


def test_the_single_look_up_answers_the_oldest_account(
    session: Session, runtime: Runtime, household: list[uuid.UUID]
) -> None:
    one = service.lookup(session, ctx(runtime), actor=CRM, purpose="service_provision",
                         phone=LINE)  # fmt: skip
    assert one.id == household[0]
    assert lookups(session) == [(household[0], "ok")]


def test_a_person_the_purpose_may_not_use_is_left_out_and_audited_as_refused(
    session: Session, runtime: Runtime, household: list[uuid.UUID]
) -> None:
    service.close(session, ctx(runtime), household[0], actor=CRM)  # service provision ends
    found = service.lookup_all(
        session, ctx(runtime), actor=CRM, purpose="service_provision", phone=LINE
    )
    assert [s.id for s in found] == [household[1]]
    assert lookups(session) == [(household[0], "refused"), (household[1], "ok")]


def test_nobody_the_purpose_may_know_of_is_not_found_like_nobody(
    session: Session, runtime: Runtime, household: list[uuid.UUID]
) -> None:
    for sid in household:
        service.close(session, ctx(runtime), sid, actor=CRM)
    with pytest.raises(NoPersonFound) as refused:
        service.lookup_all(session, ctx(runtime), actor=CRM, purpose="service_provision",
                           phone=LINE)  # fmt: skip
    with pytest.raises(NoPersonFound) as nobody:
        service.lookup_all(session, ctx(runtime), actor=CRM, purpose="service_provision",
                           phone="+442079460999")  # fmt: skip
    assert (refused.value.message, refused.value.details) == (
        nobody.value.message,
        nobody.value.details,
    )
    assert lookups(session) == [
        (household[0], "refused"), (household[1], "refused"), (None, "not_found")
    ]  # fmt: skip
