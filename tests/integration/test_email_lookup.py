"""The address look-up in a table of its own (``email_lookup``, decision 0044): a person is
found by address through it, one account per address is kept by its key, a corrected
address moves it (the old one finds nobody), and it never disagrees with the person's own
copy of the index."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.runtime import Runtime
from safehold.subjects import emails, rules, service
from safehold.subjects.errors import EmailTaken, NoPersonFound
from safehold.subjects.models import EmailLookup, Subject

CRM = Actor("api_key", "crm")
PURPOSE = "communication.service"


def ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def register(session: Session, runtime: Runtime, name: str) -> uuid.UUID:
    return service.register(
        session, ctx(runtime), actor=CRM, marketing_opt_in=False, policy_version="test",
        contact=rules.contact(name=f"{name.title()} Example", email=f"{name}@example.com"),
    ).id  # fmt: skip


def in_step(session: Session) -> None:
    """Every person's own index is in the look-up table, pointing back at them, and the
    table holds nothing else."""
    own = {
        (s.email_index, s.id)
        for s in session.scalars(select(Subject).where(Subject.email_index.is_not(None)))
    }
    assert own == {(r.email_index, r.subject_id) for r in session.scalars(select(EmailLookup))}


def test_a_person_is_found_by_address_through_the_look_up(
    session: Session, runtime: Runtime
) -> None:
    ada = register(session, runtime, "ada")
    index = runtime.vault.email_index("ada@example.com")
    assert emails.owner(session, index) == ada
    found = service.lookup(session, ctx(runtime), actor=CRM, purpose=PURPOSE,
                           email="ada@example.com")  # fmt: skip
    assert found.id == ada
    in_step(session)


def test_one_account_per_address_and_a_correction_moves_it(
    session: Session, runtime: Runtime
) -> None:
    ada, bo = register(session, runtime, "ada"), register(session, runtime, "bo")
    with pytest.raises(EmailTaken):
        register(session, runtime, "ada")
    with pytest.raises(EmailTaken):  # correcting to another's address
        service.rectify(session, ctx(runtime), bo, actor=CRM, source="operator",
                        contact=rules.contact(email="ada@example.com"))  # fmt: skip
    service.rectify(session, ctx(runtime), ada, actor=CRM, source="operator",
                    contact=rules.contact(email="ada.new@example.com"))  # fmt: skip
    in_step(session)
    with pytest.raises(NoPersonFound):  # the old address finds nobody now
        service.lookup(session, ctx(runtime), actor=CRM, purpose=PURPOSE,
                       email="ada@example.com")  # fmt: skip
    assert register(session, runtime, "ada") not in (ada, bo)  # free for a new account
    in_step(session)


def test_a_released_address_finds_nobody(session: Session, runtime: Runtime) -> None:
    ada = register(session, runtime, "ada")
    person = session.get(Subject, ada)
    assert person is not None
    emails.release(session, [person])
    assert emails.owner(session, runtime.vault.email_index("ada@example.com")) is None
