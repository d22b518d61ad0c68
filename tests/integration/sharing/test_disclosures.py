"""Disclosures against a real database: exactly what the policy allows leaves, each person is
decided on their own, every disclosure and every refusal is on record."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.models import AuditEntry
from safehold.clock import FrozenClock
from safehold.policy.rules import content_hash
from safehold.sharing import service
from safehold.sharing.errors import DisclosureRefused
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects.service import Context
from tests.integration.sharing.conftest import BACK_END, Person

PAY, MAIL, AUTH = "payment_processor", "email_delivery", "authorities"
NOBODY = uuid.UUID("00000000-0000-4000-8000-00000000beef")


def disclose(session: Session, ctx: Context, recipient: str, purpose: str,
             people: list[uuid.UUID], categories: list[str],
             reference: str | None = None) -> service.DisclosureResult:  # fmt: skip
    return service.disclose(
        session, ctx, actor=BACK_END, recipient=recipient, purpose=purpose,
        subject_ids=people, categories=categories, reference=reference,
    )  # fmt: skip


def trail(session: Session, subject_id: uuid.UUID) -> list[tuple[str, str, list[str]]]:
    return [
        (e.action, e.outcome, sorted(e.categories))
        for e in audit.entries(session, subject_id=subject_id)
        if e.action.startswith("disclosure")
    ]


def test_a_processor_receives_exactly_what_the_policy_allows(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    result = disclose(
        session, ctx, PAY, "service_provision", [ada],
        ["account.name", "account.email", "account.payment"],
    )  # fmt: skip
    [package] = result.people
    assert package.outcome == "disclosed"
    assert package.data == {
        "account.email": {"email": "ada.quillfeather@example.com"},
        "account.name": {"full_name": "Ada Quillfeather"},
    }
    assert package.payment_methods is not None
    assert [(m.processor_token, str(m.card)) for m in package.payment_methods] == [
        ("pm_ada.quillfeather", "Visa •••• 4242")
    ]
    assert package.nothing_held == []
    assert package.withheld == []
    record = session.get(Disclosure, result.disclosure.id)
    assert record is not None
    assert (record.recipient_id, record.recipient_role, record.purpose) == (
        PAY, "processor", "service_provision",
    )  # fmt: skip
    assert record.categories == ["account.name", "account.email", "account.payment"]
    assert record.actor == "api_key:backend"
    assert record.request_id == "req-sharing"
    assert record.policy_hash == content_hash(ctx.policy)
    assert (record.people_disclosed, record.people_refused) == (1, 0)
    row = session.get(DisclosureSubject, (record.id, ada))
    assert row is not None
    assert row.categories == ["account.email", "account.name", "account.payment"]
    assert trail(session, ada) == [
        ("disclosure.create", "disclosed", ["account.email", "account.name", "account.payment"])
    ]
    assert audit.verify(session).ok


def test_an_authority_gets_legal_obligation_data_only_with_a_reference(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person()
    wanted = ["account.name", "account.address", "network.ip"]
    with pytest.raises(DisclosureRefused) as refused:
        disclose(session, ctx, AUTH, "legal_obligation", [ada], wanted)
    assert refused.value.details["rule"] == "recipients.authorities.legal_reference_required"
    [attempt] = service.disclosures_for(session, ctx, ada, include_refused=True)
    assert (attempt.outcome, attempt.rule, attempt.categories) == (
        "refused", "recipients.authorities.legal_reference_required", ()
    )  # fmt: skip

    result = disclose(session, ctx, AUTH, "legal_obligation", [ada], wanted, " Case 2026/0042 ")
    [package] = result.people
    assert set(package.data) == {"account.name", "account.address"}
    assert package.data["account.address"]["city"] == "Exampleton"
    assert [(w.category, w.rule) for w in package.withheld] == [
        ("network.ip", "sharing.events_not_included")  # said, never sent silently empty
    ]
    assert package.nothing_held == []
    assert package.payment_methods is None
    assert result.disclosure.reference == "Case 2026/0042"
    assert trail(session, ada) == [
        ("disclosure.create", "refused", sorted(wanted)),
        ("disclosure.create", "partial", ["account.address", "account.name"]),
    ]


@pytest.mark.parametrize(
    ("recipient", "purpose", "categories", "rule"),
    [
        ("data_broker", "service_provision", ["account.email"], "policy.recipients.unknown"),
        (PAY, "communication.marketing", ["account.email"], "sharing.allowed_purposes"),
        (MAIL, "service_provision", ["account.email", "account.address"],
         "recipients.email_delivery.categories"),
        (PAY, "legal_obligation", ["account.payment"], "recipients.payment_processor.purposes"),
    ],
)  # fmt: skip
def test_a_request_refused_as_a_whole_discloses_nothing_and_is_on_each_persons_record(
    session: Session, ctx: Context, person: Person, recipient: str, purpose: str,
    categories: list[str], rule: str,
) -> None:  # fmt: skip
    """It discloses nothing, and is on each listed person's record as refused (issue 20,
    item 24)."""
    ada, bo = person(), person("Bo Tumbleweed")
    with pytest.raises(DisclosureRefused) as refused:
        disclose(session, ctx, recipient, purpose, [ada, NOBODY, bo], categories)
    assert refused.value.details["rule"] == rule
    [record] = session.scalars(select(Disclosure))
    assert (record.people_disclosed, record.people_refused) == (0, 2)
    declared = recipient in ctx.policy.recipient_ids  # an undeclared id is never stored
    assert record.recipient_id == (recipient if declared else "(undeclared)")
    people = session.scalars(select(DisclosureSubject).order_by(DisclosureSubject.subject_id))
    assert sorted((p.subject_id, p.outcome, p.rule, p.categories) for p in people) == sorted(
        [(ada, "refused", rule, []), (bo, "refused", rule, [])]
    )
    assert service.disclosures_for(session, ctx, ada) == []  # nothing went out
    [attempt] = service.disclosures_for(session, ctx, ada, include_refused=True)
    assert (attempt.outcome, attempt.rule, attempt.purpose) == ("refused", rule, purpose)
    for who in (ada, bo):
        assert [t[:2] for t in trail(session, who)] == [("disclosure.create", "refused")]
    nobody = select(func.count()).select_from(AuditEntry).where(AuditEntry.subject_id == NOBODY)
    assert session.scalar(nobody) == 0


def test_people_are_decided_one_by_one(session: Session, ctx: Context, person: Person) -> None:
    ada = person()
    bo = person("Bo Tumbleweed", status="closed")
    cy = person("Cy Marchbanks", status="erased")
    di = person("Di Pennywhistle", status="restricted")
    result = disclose(
        session, ctx, PAY, "service_provision", [ada, bo, cy, di, NOBODY, ada],
        ["account.email"],
    )  # fmt: skip
    outcomes = {p.subject_id: (p.outcome, p.rule) for p in result.people}
    assert outcomes == {
        ada: ("disclosed", None),
        bo: ("refused", "subject.closed"),
        cy: ("refused", "subject.erased"),
        di: ("refused", "subject.restricted"),
        NOBODY: ("not_found", "subject.not_found"),
    }
    assert [p.subject_id for p in result.people] == [ada, bo, cy, di, NOBODY]  # once each
    refused = [p for p in result.people if p.outcome != "disclosed"]
    assert all(p.data == {} and p.payment_methods is None for p in refused)
    assert (result.disclosure.people_disclosed, result.disclosure.people_refused) == (1, 4)
    for who in (bo, cy, di):
        assert [t[:2] for t in trail(session, who)] == [("disclosure.create", "refused")]


def test_a_legal_obligation_reaches_closed_accounts_and_only_what_an_erasure_kept(
    session: Session, ctx: Context, person: Person
) -> None:
    bo = person("Bo Tumbleweed", status="closed")
    cy = person("Cy Marchbanks", status="erased")
    result = disclose(
        session, ctx, AUTH, "legal_obligation", [bo, cy],
        ["account.name", "account.payment", "account.email"], "Tax audit 2026-17",
    )  # fmt: skip
    by_id = {p.subject_id: p for p in result.people}
    assert by_id[bo].data["account.name"] == {"full_name": "Bo Tumbleweed"}
    assert by_id[bo].payment_methods is not None
    # issue 17, item 6: the erased person's kept categories go out for the obligation, with
    # its reference; a category the erasure did not keep is withheld as erased.
    assert by_id[cy].outcome == "disclosed"
    assert set(by_id[cy].data) <= {"account.name"}
    assert ("account.email", "subject.erased") in [(w.category, w.rule) for w in by_id[cy].withheld]
    other = disclose(session, ctx, PAY, "service_provision", [cy], ["account.name"])
    assert [(p.outcome, p.rule) for p in other.people] == [("refused", "subject.erased")]


def test_a_person_can_see_who_received_their_data_and_why(
    session: Session, ctx: Context, person: Person, clock: FrozenClock
) -> None:
    ada = person()
    disclose(session, ctx, PAY, "service_provision", [ada], ["account.email", "account.payment"])
    clock.advance(timedelta(days=3))
    disclose(session, ctx, AUTH, "legal_obligation", [ada], ["account.name"], "Order 12/2026")
    with pytest.raises(DisclosureRefused):
        disclose(session, ctx, MAIL, "service_provision", [ada], ["account.phone"])
    lines = service.disclosures_for(session, ctx, ada)
    assert [(x.recipient_name, x.purpose_label, x.categories, x.reference) for x in lines] == [
        ("Example Payments Ltd (fictional)", "Service provision",
         ("account.email", "account.payment"), None),
        ("Tax and law-enforcement authorities", "Legal obligations", ("account.name",),
         "Order 12/2026"),
    ]  # fmt: skip
    assert lines[0].country == "IE"
    assert lines[1].recipient_role == "authority"
    # A refusal for one person inside an accepted request is on their record too.
    closed = person("Bo Tumbleweed", status="closed")
    disclose(session, ctx, PAY, "service_provision", [closed], ["account.email"])
    assert service.disclosures_for(session, ctx, closed) == []
    [attempt] = service.disclosures_for(session, ctx, closed, include_refused=True)
    assert (attempt.outcome, attempt.rule, attempt.categories) == ("refused", "subject.closed", ())


def test_allowed_categories_with_nothing_held_send_nothing_and_are_not_on_record(
    session: Session, ctx: Context, person: Person
) -> None:
    ada = person(card=False)
    result = disclose(session, ctx, PAY, "service_provision", [ada], ["account.payment"])
    [package] = result.people
    assert package.outcome == "disclosed"
    assert package.payment_methods == []
    assert package.nothing_held == ["account.payment"]
    assert service.disclosures_for(session, ctx, ada) == []


def test_recipients_come_from_the_policy_with_their_delivery(ctx: Context) -> None:
    views = {v.id: v for v in service.recipients(ctx, webhooks=[PAY])}
    assert set(views) == {PAY, MAIL, AUTH}
    assert views[PAY].delivery == "webhook"
    assert views[MAIL].delivery == "manual"
    assert views[AUTH].legal_reference_required
    assert not views[AUTH].notify_on_erasure
    assert not any(v.third_country for v in views.values())
