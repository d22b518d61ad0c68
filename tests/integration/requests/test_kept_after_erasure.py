"""What an erasure keeps under a legal basis (issue 17, item 6): readable and disclosable for
that basis only, with a reference, audited; and kept only for people the basis applies to
(invoice records only for people with payment information)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.db import transaction
from safehold.requests import certificate, jobs
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.sharing.errors import DisclosureRefused
from safehold.subjects import kept
from safehold.subjects import service as subjects
from safehold.subjects.errors import KeptReadNeedsReference, SubjectErased
from safehold.subjects.models import KeptRead, PersonalValue
from tests.integration.requests.support import STAFF, ctx, person, verified
from tests.integration.requests.test_erasure import text_of

REFERENCE = "Tax audit TA-2026-0042 (fictional)"


def _sctx(runtime: Runtime) -> subjects.Context:
    return subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def _erased(runtime: Runtime, *, card: bool = True) -> tuple[uuid.UUID, dict[str, Any]]:
    sid = person(runtime, "Ada", card=card)
    cert = jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    return sid, cert


def test_kept_data_is_read_for_a_legal_obligation_with_a_reference_and_recorded(
    runtime: Runtime,
) -> None:
    sid, _ = _erased(runtime)
    with transaction(runtime.sessions) as session:
        view = subjects.read(
            session, _sctx(runtime), sid, purpose="legal_obligation", actor=STAFF,
            reference=f"  {REFERENCE} ",
        )  # fmt: skip
    assert view.subject.status == "erased"
    assert view.data == {
        "account.name": {"full_name": "Ada Example"},
        "account.address": {"street": "1 Ada Lane", "postal_code": "EX1 1AA",
                            "city": "Exampleton", "country": "GB"},
    }  # fmt: skip
    assert "account.email" not in view.decision.allowed  # erased, not kept
    with runtime.sessions() as session:
        reads = session.scalars(select(KeptRead).where(KeptRead.subject_id == sid)).all()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.subject_id == sid, AuditEntry.action == kept.ACTION)
        ).one()
    assert [(r.reference, r.purpose) for r in reads] == [(REFERENCE, "legal_obligation")]
    assert set(reads[0].categories) == set(view.decision.allowed)
    assert (entry.purpose, entry.outcome) == ("legal_obligation", "partial")


@pytest.mark.parametrize("reference", [None, "", "   ", "x" * 201])
def test_a_legal_read_of_kept_data_without_a_reference_is_refused(
    runtime: Runtime, reference: str | None
) -> None:
    sid, _ = _erased(runtime)
    with transaction(runtime.sessions) as session, pytest.raises(KeptReadNeedsReference):
        subjects.read(
            session, _sctx(runtime), sid, purpose="legal_obligation", actor=STAFF,
            reference=reference,
        )  # fmt: skip


def test_every_other_purpose_still_finds_the_person_erased(runtime: Runtime) -> None:
    sid, _ = _erased(runtime)
    for purpose in ("service_provision", "communication.service"):
        with transaction(runtime.sessions) as session, pytest.raises(SubjectErased):
            subjects.read(
                session, _sctx(runtime), sid, purpose=purpose, actor=STAFF, reference=REFERENCE
            )


def test_kept_data_goes_to_the_authorities_with_a_reference_and_nothing_else(
    runtime: Runtime,
) -> None:
    sid, _ = _erased(runtime)
    wanted = ["account.name", "account.address", "account.payment", "account.email"]
    with transaction(runtime.sessions) as session:
        result = sharing.disclose(
            session, _sctx(runtime), actor=STAFF, recipient="authorities",
            purpose="legal_obligation", subject_ids=[sid], categories=wanted,
            reference=REFERENCE,
        )  # fmt: skip
    [one] = result.people
    assert one.outcome == "disclosed"
    assert set(one.data) == {"account.name", "account.address"}
    assert one.payment_methods is not None
    assert [(m.card.last4, m.processor_token) for m in one.payment_methods] == [("4242", None)]
    assert {w.category for w in one.withheld} == {"account.email"}
    assert result.disclosure.reference == REFERENCE
    with transaction(runtime.sessions) as session, pytest.raises(DisclosureRefused):
        sharing.disclose(
            session, _sctx(runtime), actor=STAFF, recipient="authorities",
            purpose="legal_obligation", subject_ids=[sid], categories=wanted, reference=None,
        )  # fmt: skip
    with transaction(runtime.sessions) as session:
        refused = sharing.disclose(
            session, _sctx(runtime), actor=STAFF, recipient="payment_processor",
            purpose="service_provision", subject_ids=[sid], categories=["account.name"],
            reference=REFERENCE,
        )  # fmt: skip
    assert [(p.outcome, p.rule) for p in refused.people] == [("refused", "subject.erased")]


def test_a_person_never_billed_has_nothing_kept_for_tax_law_and_the_certificate_says_so(
    runtime: Runtime,
) -> None:
    sid, cert = _erased(runtime, card=False)
    # Only the address for the completion e-mail, under its own key (decision 0028).
    assert [(k["category"], k["kind"]) for k in cert["kept"]] == [
        ("account.email", "completion_mail")
    ]
    assert cert["not_kept"] == [
        {"exception": "invoice_records", "only_for_people_with": ["account.payment"]}
    ]
    assert cert["verification"]["ok"] is True
    assert "invoice_records" in cert["erased"]["retention_classes_shredded"]
    with runtime.sessions() as session:
        left = session.scalars(select(PersonalValue).where(PersonalValue.subject_id == sid)).all()
    assert left == []
    page = text_of(certificate.render_html(cert, runtime.policy))
    assert (
        "Not kept: nothing under the retention rule invoice_records (Name and billing address on "
        "issued invoices), which keeps data only for people of whom we hold Payment information; "
        "none was held for this person."
    ) in page
    assert "E-mail address account.email: For the e-mail that says the erasure was done" in page
    with transaction(runtime.sessions) as session:
        view = subjects.read(
            session, _sctx(runtime), sid, purpose="legal_obligation", actor=STAFF,
            reference=REFERENCE,
        )  # fmt: skip
    assert view.data == {}
