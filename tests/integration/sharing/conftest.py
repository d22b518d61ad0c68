"""People to disclose: registered through the subjects service, with a card, as the API
would; fictional names and example.com addresses only."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.runtime import Runtime
from safehold.subjects import payments
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.service import Context

BACK_END = Actor("api_key", "backend", request_id="req-sharing")
STAFF = Actor("admin", "privacy-team")
ADDRESS = {"street": "1 Example Row", "postal_code": "EX1 2MP", "city": "Exampleton",
           "country": "GB"}  # fmt: skip

Person = Callable[..., uuid.UUID]


@pytest.fixture
def ctx(runtime: Runtime) -> Context:
    return Context(runtime.vault, runtime.policy, runtime.clock)


@pytest.fixture
def person(session: Session, ctx: Context) -> Person:
    """Register someone (name, e-mail, phone, address, and a card unless ``card=False``)."""

    def make(
        name: str = "Ada Quillfeather", *, card: bool = True, status: str = "active"
    ) -> uuid.UUID:
        local = name.lower().replace(" ", ".")
        contact = subject_rules.contact(
            name=name, email=f"{local}@example.com", phone="+44 20 7946 0958", address=ADDRESS
        )
        subject = subjects.register(
            session, ctx, actor=BACK_END, contact=contact, marketing_opt_in=True,
            policy_version="test",
        )  # fmt: skip
        if card:
            payments.add(
                session, ctx, subject.id, actor=BACK_END, processor="example-pay",
                token=f"pm_{local}", brand="visa", last4="4242", exp_month=7, exp_year=2031,
            )  # fmt: skip
        if status == "closed":
            subjects.close(session, ctx, subject.id, actor=BACK_END)
        elif status != "active":
            subject.status = status
            if status == "erased":
                ctx.vault.shred(session, subject.id)
        session.flush()
        return subject.id

    return make
