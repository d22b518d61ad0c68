"""Carrying out an erasure: what is erased, what is kept and why, verification, the
certificate; a hold; a crash between steps and the resumption; a second runner refused."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from safehold.clock import FrozenClock
from safehold.comms.models import MarketingChoice, Suppression
from safehold.db import transaction
from safehold.requests import certificate, jobs, rules
from safehold.requests.errors import ErasureRunning, TransitionRefused
from safehold.retention import service as holds
from safehold.runtime import Runtime
from safehold.sharing.models import Propagation
from safehold.subjects import emails, payments
from safehold.subjects import service as subjects
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.vault.errors import DataKeyDestroyed
from safehold.web import sessions as web_sessions
from safehold.web.models import WebSession
from safehold.web.rules import Kind
from tests.integration.requests.support import STAFF, ctx, load, open_request, person, verified

HEADINGS = ("Certificate of erasure", "When", "What was erased", "What was kept, and why",
            "Recipients told of the erasure", "Verification after the erasure")  # fmt: skip


def text_of(page: str) -> str:
    """The page's text as a reader sees it: one line per heading, paragraph, list item or
    table row (cells joined by ": "), tags and extra spaces gone."""
    page = " ".join(page.split())
    page = re.sub(r"</t[hd]>\s*<t[hd][^>]*>", ": ", page)
    page = re.sub(r"</dt>\s*<dd>", ": ", page)
    page = re.sub(r"<(/?)(h[1-6]|p|li|tr|dt|dd)\b[^>]*>", "\n", page)
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


class Crash(Exception):
    pass


def _count(runtime: Runtime, model: Any, sid: uuid.UUID) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).where(model.subject_id == sid)) or 0)


def test_an_erasure_erases_keeps_the_exceptions_and_certifies_the_truth(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid)
    with runtime.sessions() as session:
        email_index = session.get(Subject, sid).email_index  # type: ignore[union-attr]
    cert = jobs.erase(runtime.sessions, ctx(runtime), rid)

    request = load(runtime, rid)
    assert request.status == "completed"
    assert cert["outcome"] == "completed"
    assert request.certificate == cert
    assert request.lease_until is None
    assert set(request.progress) >= set(rules.STEPS)
    # Erased: contact details, the processor token; kept: invoice name/address, card record.
    erased = {c["category"]: c["rows_deleted"] for c in cert["erased"]["categories"]}
    assert erased == {"account.email": 1, "account.phone": 1, "account.payment": 0}
    assert cert["erased"]["retention_classes_shredded"] == ["account_contact", "payment"]
    assert cert["erased"]["payment_tokens_removed"] == 1
    assert cert["erased"]["marketing_choices_deleted"] == 1
    completion = request.progress["queue_completion_mail"]
    assert {(k["category"], k["ref"]) for k in cert["kept"]} == {
        ("account.name", "invoice_records"),
        ("account.address", "invoice_records"),
        ("account.payment", "payment_records"),
        ("account.email", completion["item_id"]),  # for the completion e-mail only (0028)
    }
    assert cert["recipients_notified"] == ["email_delivery"]
    assert cert["verification"]["ok"] is True
    assert cert["erased"]["address_suppressed"] is True

    with runtime.sessions() as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        assert (subject.status, subject.email_index, subject.phone_index) == ("erased", None, None)
        assert emails.owner(session, email_index or "") is None  # the address finds no one
        # Nothing readable remains of the erased classes.
        for klass in ("account_contact", "payment"):
            with pytest.raises(DataKeyDestroyed):
                runtime.vault.data_key(session, sid, klass, create=False)
        left = {(r.category, r.retention_class) for r in session.scalars(
            select(PersonalValue).where(PersonalValue.subject_id == sid))}  # fmt: skip
        assert left == {("account.name", "invoice_records"), ("account.address", "invoice_records")}
        # What the certificate says was kept is still readable, as it says.
        sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
        card = payments.views(session, sctx, sid)
        assert [(c.card.last4, c.processor_token) for c in card] == [("4242", None)]
        token = session.scalars(select(PaymentMethod.token).where(PaymentMethod.subject_id == sid))
        assert list(token) == [b""]
        assert session.get(Suppression, (email_index, "erased")) is not None
        assert session.scalar(select(func.count()).where(Propagation.subject_id == sid)) == 1
    assert _count(runtime, MarketingChoice, sid) == 0

    html = certificate.render_html(cert, runtime.policy)
    assert "Ada" not in html
    assert "example.com" not in html
    page = text_of(html)
    # A document: headed sections, dates in words, names (with the ids the JSON uses)
    assert [h for h in page.splitlines() if h in HEADINGS] == list(HEADINGS)
    assert "Request received: 2 March 2026 at 09:30 UTC" in page
    assert "(erasure, received through the service's API)" in page
    assert "T09:30" not in page
    assert "E-mail address account.email: 1 stored value deleted" in page
    assert ("Payment information account.payment: 0 payment methods deleted; 1 processor token "
            "removed; what remains is under “What was kept”") in page  # fmt: skip
    assert "Usage events: none was held" in page
    assert "Marketing choices: 1 marketing choice deleted" in page
    assert "Stored values deleted 0" not in page
    assert ("Name account.name: Kept by the retention rule invoice_records: Invoices must show "
            "who was billed.") in page  # fmt: skip
    assert "2 March 2036" in page  # kept until, in words
    assert (
        "the encryption keys of Account and contact details account_contact and Payment "
        "information payment were destroyed" in page
    )
    recipient = runtime.policy.recipient("email_delivery").name
    assert f"{recipient} email_delivery" in page
    assert (
        "Passed: all 2 keys destroyed; no erased row is left; look-up indexes (e-mail, "
        "phone) cleared." in page
    )

    # Running it again does nothing and returns the same certificate.
    assert jobs.erase(runtime.sessions, ctx(runtime), rid) == cert
    with pytest.raises(subjects.SubjectErased), transaction(runtime.sessions) as session:
        open_request_in(session, runtime, sid)


def open_request_in(session: Any, runtime: Runtime, sid: uuid.UUID) -> None:
    from safehold.requests import service

    service.create(
        session, ctx(runtime), actor=STAFF, subject_id=sid, kind="erasure", channel="api"
    )


def test_an_unverified_request_cannot_be_carried_out(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    with pytest.raises(TransitionRefused):
        jobs.erase(runtime.sessions, ctx(runtime), rid)
    assert load(runtime, rid).status == "received"
    assert _count(runtime, PersonalValue, sid) == 7  # name, e-mail, phone, 4 address fields


def test_a_hold_keeps_what_it_names_and_the_answer_is_partial(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    until = clock.now() + timedelta(days=365)
    with transaction(runtime.sessions) as session:
        holds.place(
            session, policy=runtime.policy, clock=clock, actor=STAFF, subject_id=sid,
            categories=["account.phone"], reason="pending dispute", legal_basis="legal claim",
            until=until,
        )  # fmt: skip
    rid = verified(runtime, sid)
    cert = jobs.erase(runtime.sessions, ctx(runtime), rid)
    assert cert["outcome"] == "partially_completed"
    held = [k for k in cert["kept"] if k["kind"] == "legal_hold"]
    assert [(k["category"], k["until"]) for k in held] == [("account.phone", until.isoformat())]
    assert "account_contact" not in cert["erased"]["retention_classes_shredded"]
    with runtime.sessions() as session:
        rows = {r.category for r in session.scalars(
            select(PersonalValue).where(PersonalValue.subject_id == sid))}  # fmt: skip
    assert "account.phone" in rows
    assert "account.email" not in rows
    page = text_of(certificate.render_html(cert, runtime.policy))
    until_words = f"{until.day} {until:%B %Y}"
    assert (
        f"Phone number account.phone: Legal hold: pending dispute: legal claim: {until_words}"
        in page
    )
    assert "Partially completed: a legal hold kept some data" in page


@pytest.mark.parametrize("crash_after", ["plan", "shred", "delete_rows", "verify"])
def test_a_crash_between_steps_resumes_without_double_work(
    runtime: Runtime, clock: FrozenClock, crash_after: str
) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid)
    seen: list[str] = []

    def crash(step: str) -> None:
        seen.append(step)
        if step == crash_after:
            raise Crash

    with pytest.raises(Crash):
        jobs.erase(runtime.sessions, ctx(runtime), rid, after_step=crash)
    request = load(runtime, rid)
    assert request.status == "in_progress"
    assert list(request.progress) == list(rules.STEPS[: rules.STEPS.index(crash_after) + 1])
    # The runner is gone but holds the lease: a second runner is refused until it ends.
    with pytest.raises(ErasureRunning):
        jobs.erase(runtime.sessions, ctx(runtime), rid)
    clock.advance(rules.ERASURE_LEASE + timedelta(seconds=1))
    resumed: list[str] = []
    cert = jobs.erase(runtime.sessions, ctx(runtime), rid, after_step=resumed.append)
    assert resumed == list(rules.STEPS[rules.STEPS.index(crash_after) + 1 :])  # nothing twice
    assert cert["outcome"] == "completed"
    assert cert["verification"]["ok"]
    # Counts come from the step that did the work, not from a re-run finding nothing.
    assert {c["category"]: c["rows_deleted"] for c in cert["erased"]["categories"]} == {
        "account.email": 1, "account.phone": 1, "account.payment": 0,
    }  # fmt: skip
    assert cert["recipients_notified"] == ["email_delivery"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Propagation.subject_id == sid)) == 1


def test_an_erasure_signs_the_person_out_everywhere(runtime: Runtime) -> None:
    sid = person(runtime)
    with runtime.sessions() as session:
        token = web_sessions.start(session, Kind.PERSON, now=runtime.clock.now(), subject_id=sid)
        session.commit()
    rid = verified(runtime, sid)
    jobs.erase(runtime.sessions, ctx(runtime), rid)
    assert _count(runtime, WebSession, sid) == 0
    assert load(runtime, rid).progress["delete_rows"]["web_sessions"] == 1
    with runtime.sessions() as session:
        assert web_sessions.load(session, Kind.PERSON, token, now=runtime.clock.now()) is None
