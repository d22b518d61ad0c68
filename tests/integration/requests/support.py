"""Helpers for the request tests: a person with data everywhere, the code from the outbox."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.requests import routes, service
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.subjects import payments
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects

STAFF = Actor("api_key", "support-desk")


def ctx(runtime: Runtime) -> service.Context:
    return routes.context(runtime)


def person(
    runtime: Runtime,
    tag: str = "Ada",
    *,
    card_token: str = "pm_tok_example",  # noqa: S107 - a fictional processor token
    card: bool = True,
) -> uuid.UUID:
    """A person with a name, e-mail, phone, address, a card (unless ``card`` is false: never
    billed), and a disclosure to a processor."""
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subject = subjects.register(
            session, sctx, actor=STAFF, marketing_opt_in=True, policy_version="test",
            contact=subject_rules.contact(
                name=f"{tag} Example", email=f"{tag.lower()}@example.com", phone="+44 20 7946 0958",
                address={"street": f"1 {tag} Lane", "postal_code": "EX1 1AA", "city": "Exampleton",
                         "country": "GB"},
            ),
        )  # fmt: skip
        if card:
            payments.add(
                session, sctx, subject.id, actor=STAFF, processor="example-pay",
                token=card_token, brand="visa", last4="4242", exp_month=1, exp_year=2030,
            )  # fmt: skip
        sharing.disclose(
            session, sctx, actor=STAFF, recipient="email_delivery", purpose="service_provision",
            subject_ids=[subject.id], categories=["account.email"], reference=None,
        )  # fmt: skip
        return subject.id


def code_sent(runtime: Runtime, session: Session, subject_id: uuid.UUID) -> str:
    """The latest code e-mailed to the person: their latest code e-mail's sealed secret,
    decrypted from the outbox row (not from SMTP)."""
    items = session.scalars(
        select(OutboxItem)
        .join(Message, OutboxItem.message_id == Message.id)
        .where(OutboxItem.subject_id == subject_id, Message.kind == "account_notice")
        .order_by(Message.created_at.desc(), OutboxItem.created_at.desc())
    ).all()
    assert items, "no code e-mail in the outbox"
    code = comms.open_secret(session, ctx(runtime).comms, items[0])
    assert code is not None, "the code e-mail carries no sealed secret"
    assert re.fullmatch(r"\d{8}", code)
    return code


def open_request(runtime: Runtime, subject_id: uuid.UUID, kind: str = "erasure") -> uuid.UUID:
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx(runtime), actor=STAFF, subject_id=subject_id, kind=kind, channel="api"
        )
        return request.id


def verified(runtime: Runtime, subject_id: uuid.UUID, kind: str = "erasure") -> uuid.UUID:
    rid = open_request(runtime, subject_id, kind)
    with transaction(runtime.sessions) as session:
        code = code_sent(runtime, session, subject_id)
        service.verify(session, ctx(runtime), rid, actor=STAFF, code=code)
    return rid


def load(runtime: Runtime, request_id: uuid.UUID) -> DataRequest:
    with runtime.sessions() as session:
        request = session.scalars(select(DataRequest).where(DataRequest.id == request_id)).one()
        assert request is not None
        session.expunge(request)
        return request


def signed_in(
    runtime: Runtime, subject_id: uuid.UUID, kind: str, purpose: str | None = None
) -> uuid.UUID:
    """A request the person made signed in to the privacy center (verified by the sign-in;
    an objection is carried out at once). No code e-mail, so several can be opened at the
    frozen clock's same instant without mixing up their codes."""
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx(runtime), actor=STAFF, subject_id=subject_id, kind=kind,
            channel="privacy_center", made_by="subject", send=False, purpose=purpose,
        )  # fmt: skip
        service.verify_signed_in(session, ctx(runtime), request, actor=STAFF)
        return request.id
