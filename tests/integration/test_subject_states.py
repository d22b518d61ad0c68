"""The policy state of people read in bulk (``states_of``) and on the read path (one query)
is the state their owners' own functions describe: the marketing choice in force (comms),
the objections (analytics) and the pending acceptances (notices)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.analytics import service as analytics
from safehold.comms import preferences
from safehold.comms.rules import marketing_sets
from safehold.notices import service as notices
from safehold.policy.rules import SubjectState
from safehold.runtime import Runtime
from safehold.subjects import rules, service
from safehold.subjects.errors import PurposeRefused, SubjectErased, SubjectNotFound

CRM = Actor("api_key", "crm")
MARKETING = "communication.marketing"


def ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def person(session: Session, runtime: Runtime, name: str, *, opt_in: bool) -> uuid.UUID:
    contact = rules.contact(name=name, email=f"{name.split()[0].lower()}@example.com")
    return service.register(
        session, ctx(runtime), actor=CRM, contact=contact, marketing_opt_in=opt_in,
        policy_version="test",
    ).id  # fmt: skip


def owners_view(session: Session, runtime: Runtime, subject_id: uuid.UUID) -> SubjectState:
    """The state assembled from each owner's one-person function."""
    subject = service.get(session, subject_id)
    opted_out, consented = marketing_sets(preferences.current_choice(session, subject_id))
    return SubjectState(
        account_status=subject.status,  # type: ignore[arg-type]
        opted_out=opted_out,
        objected=analytics.objected_purposes(session, subject_id),
        consented=consented,
        pending_acceptance=notices.pending_purposes(
            session, runtime.book, subject_id, runtime.clock.now()
        ),
    )


@pytest.fixture
def people(session: Session, runtime: Runtime) -> dict[str, uuid.UUID]:
    made = {
        "ada": person(session, runtime, "Ada Quillfeather", opt_in=True),
        "bo": person(session, runtime, "Bo Brightwater", opt_in=False),
        "cy": person(session, runtime, "Cy Changeling", opt_in=True),
        "di": person(session, runtime, "Di Objector", opt_in=True),
    }
    preferences.record_choice(
        session, subject=service.get(session, made["cy"]), choice="opted_out", channel="api",
        actor=CRM, policy_version="test", clock=runtime.clock,
    )  # fmt: skip
    analytics.record_objection(
        session, subject_id=made["di"], purpose=MARKETING, actor=CRM, clock=runtime.clock
    )
    session.flush()
    return made


def test_states_of_many_people_match_their_owners_view(
    session: Session, runtime: Runtime, people: dict[str, uuid.UUID]
) -> None:
    subjects = [service.get(session, sid) for sid in people.values()]
    states = service.states_of(session, subjects, runtime.book, runtime.clock.now())
    assert set(states) == set(people.values())
    for sid in people.values():
        assert states[sid] == owners_view(session, runtime, sid)
        single = service.state_of(
            session, service.get(session, sid), runtime.book, runtime.clock.now()
        )
        assert single == states[sid]
    assert states[people["cy"]].opted_out == {MARKETING}
    assert states[people["di"]].objected == {MARKETING}
    assert service.states_of(session, [], runtime.book, runtime.clock.now()) == {}


def test_the_read_path_decides_with_the_same_state(
    session: Session, runtime: Runtime, people: dict[str, uuid.UUID]
) -> None:
    view = service.read(session, ctx(runtime), people["ada"], purpose=MARKETING, actor=CRM)
    assert view.data[rules.EMAIL] == {"email": "ada@example.com"}
    for who, rule in (("cy", "opt_out"), ("di", "objection")):
        with pytest.raises(PurposeRefused) as refused:
            service.read(session, ctx(runtime), people[who], purpose=MARKETING, actor=CRM)
        assert str(refused.value.details["rule"]).endswith(rule)
    # an objection to one purpose leaves the others alone
    allowed = service.read(
        session, ctx(runtime), people["di"], purpose="service_provision", actor=CRM
    )
    assert allowed.data[rules.EMAIL] == {"email": "di@example.com"}


def test_the_read_path_still_refuses_unknown_and_erased_people(
    session: Session, runtime: Runtime, people: dict[str, uuid.UUID]
) -> None:
    with pytest.raises(SubjectNotFound):
        service.read(session, ctx(runtime), uuid.uuid4(), purpose=MARKETING, actor=CRM)
    service.get(session, people["bo"]).status = "erased"
    with pytest.raises(SubjectErased):
        service.read(session, ctx(runtime), people["bo"], purpose=MARKETING, actor=CRM)


def test_a_value_whose_key_was_shredded_is_reported_erased(
    session: Session, runtime: Runtime, people: dict[str, uuid.UUID]
) -> None:
    klass = runtime.policy.retention_class(rules.EMAIL, "email")
    runtime.vault.shred(session, people["ada"], [klass])
    view = service.read(
        session, ctx(runtime), people["ada"], purpose="service_provision", actor=CRM
    )
    erased = {w.category for w in view.erased}
    assert rules.EMAIL in erased
    assert {w.rule for w in view.erased} == {"vault.erased"}
    assert rules.EMAIL not in view.data
