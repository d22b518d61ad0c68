"""The record of processing activities of the default policy, with live figures, checked
against every point GDPR Art. 30(1) lists."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.clock import FrozenClock
from safehold.policy import Policy
from safehold.runtime import Runtime
from safehold.sharing import propagation, ropa, service
from safehold.subjects.service import Context
from tests.integration.sharing.conftest import BACK_END, STAFF, Person


def live_record(session: Session, runtime: Runtime, *, verify: bool = False) -> ropa.Ropa:
    figures = ropa.figures(
        session, vault=runtime.vault, now=runtime.clock.now(), webhooks=["payment_processor"],
        verify_audit=verify,
    )  # fmt: skip
    return ropa.build(runtime.policy, figures, generated_at=runtime.clock.now())


def activity(session: Session, ctx: Context, person: Person) -> list[uuid.UUID]:
    ada, bo = person(), person("Bo Tumbleweed")
    person("Cy Marchbanks", status="closed")
    service.disclose(
        session, ctx, actor=BACK_END, recipient="payment_processor", purpose="service_provision",
        subject_ids=[ada, bo], categories=["account.payment"], reference=None,
    )  # fmt: skip
    service.disclose(
        session, ctx, actor=BACK_END, recipient="payment_processor", purpose="service_provision",
        subject_ids=[ada], categories=["account.email"], reference=None,
    )  # fmt: skip
    propagation.notify_erasure(session, bo, policy=ctx.policy, clock=ctx.clock, actor=STAFF)
    return [ada, bo]


def test_every_point_of_art_30_1_is_answered_from_the_policy_and_live_data(
    session: Session, runtime: Runtime, ctx: Context, person: Person, clock: FrozenClock
) -> None:
    activity(session, ctx, person)
    record = live_record(session, runtime, verify=True)
    policy: Policy = runtime.policy
    assert set(record.articles) == set("abcdefg")

    # (a) name and contact details of the controller
    c = record.controller
    assert (c.name, c.email, c.website) == ("IPTV Reseller", "privacy@example.com",
                                           "https://example.com")  # fmt: skip
    assert c.address is not None
    assert c.other_contacts == ["WhatsApp: +00 555 0100 (fictional)"]

    # (b) the purposes of the processing, with their lawful basis
    assert [p.id for p in record.purposes] == list(policy.purpose_ids)
    by_purpose = {p.id: p for p in record.purposes}
    assert by_purpose["service_provision"].article == "GDPR Art. 6(1)(b)"
    assert by_purpose["platform_improvement"].interest
    assert by_purpose["legal_obligation"].lawful_basis == "legal_obligation"

    # (c) categories of data subjects and of personal data
    assert "Customers of IPTV Reseller" in record.data_subjects.description
    assert record.data_subjects.by_status == {"active": 2, "closed": 1}
    assert record.data_subjects.total == 3
    assert [x.id for x in record.categories] == list(policy.category_ids)
    payment = next(x for x in record.categories if x.id == "account.payment")
    assert payment.fields == ["the payment processor's token for your card", "card brand",
                              "last 4 digits", "expiry month and year"]  # fmt: skip
    assert "full card numbers" in payment.never_kept
    assert all(x.purposes for x in record.categories)

    # (d) categories of recipients, including in third countries, with live figures
    recipients = {r.id: r for r in record.recipients}
    assert set(recipients) == set(policy.recipient_ids)
    pay = recipients["payment_processor"]
    assert (pay.role, pay.country, pay.third_country) == ("processor", "IE", False)
    assert pay.agreement == "a data processing agreement (GDPR Art. 28)"
    assert (pay.disclosures, pay.people_disclosed, pay.outstanding_notices) == (2, 2, 1)
    assert pay.notice_delivery == "webhook"
    assert recipients["email_delivery"].notice_delivery == "manual"
    assert recipients["authorities"].disclosures == 0
    assert not recipients["authorities"].told_of_erasure

    # (e) transfers to third countries: none in the default policy (all in the EEA)
    assert record.transfers == []

    # (f) time limits for erasure of every category
    covered = {cat for entry in record.retention for cat in entry.categories}
    assert covered == set(policy.category_ids)
    contact = next(e for e in record.retention if e.id == "account_contact")
    assert contact.in_words == "90 days after the account is closed"
    invoices = next(e for e in record.retention if e.id == "invoice_records")
    assert invoices.exception_of == "account_contact"
    assert invoices.survives_erasure
    assert invoices.legal_basis

    # (g) technical and organisational security measures, with the figures in force
    measures = " ".join(record.security.measures)
    for promise in ("AES-256-GCM", "blind index", "crypto-shredding", "hash-chained",
                    "IPv4 /24", "full card numbers", "fewer than 10 people"):  # fmt: skip
        assert promise in measures
    keys = record.security.keys
    assert keys.data_keys_by_version == runtime.vault.key_versions(session)
    assert sum(keys.data_keys_by_version.values()) > 0
    assert keys.kek_current in keys.kek_versions
    assert keys.data_keys_on_older_versions == 0
    head = audit.verify(session)
    assert record.security.audit.entries == head.checked > 0
    assert record.security.audit.intact is True
    assert record.security.audit.verified_at == clock.now()
    assert record.security.outstanding_notices == 1
    assert record.policy_hash


def test_a_recipient_outside_the_eea_is_a_transfer_with_its_safeguard(
    session: Session, runtime: Runtime
) -> None:
    abroad = runtime.policy.recipient("email_delivery").model_copy(
        update={"country": "US", "transfer_safeguard": "EU standard contractual clauses"}
    )
    policy = runtime.policy.model_copy(
        update={"recipients": tuple(abroad if r.id == abroad.id else r
                                    for r in runtime.policy.recipients)}
    )  # fmt: skip
    figures = ropa.figures(session, vault=runtime.vault, now=runtime.clock.now(), webhooks=[])
    record = ropa.build(policy, figures, generated_at=runtime.clock.now())
    assert [t.model_dump() for t in record.transfers] == [
        {"recipient": "email_delivery", "country": "US",
         "safeguard": "EU standard contractual clauses"}
    ]  # fmt: skip
    assert "US (third country)" in ropa.render_markdown(record)


def test_every_format_carries_every_section(
    session: Session, runtime: Runtime, ctx: Context, person: Person
) -> None:
    activity(session, ctx, person)
    record = live_record(session, runtime)
    markdown = ropa.render_markdown(record)
    html = ropa.render_html(record)
    document = json.loads(record.model_dump_json())
    for heading in ("(a) Controller", "(b) Purposes", "(c) Categories of data subjects",
                    "(d) Recipients", "(e) Transfers", "(f) Time limits for erasure",
                    "(g) Technical and organisational security measures"):  # fmt: skip
        assert f"## {heading}" in markdown
        assert heading in html
    assert {"controller", "purposes", "data_subjects", "categories", "recipients", "transfers",
            "retention", "security"} <= set(document)  # fmt: skip
    assert "Not verified for this record" in markdown
    assert "Example Payments Ltd (fictional)" in html
