from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.policy.rules import content_hash
from safehold.runtime import Runtime
from safehold.subjects import payments, rules, service
from safehold.subjects.errors import LookupKeyMissing
from safehold.subjects.models import Subject
from safehold.subjects.schemas import (
    LookupIn,
    PaymentMethodIn,
    PaymentMethodOut,
    PaymentMethodsOut,
    RectifyIn,
    RegisterIn,
    SubjectDataOut,
    SubjectOut,
    WithheldOut,
)

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])
Reader = Annotated[ApiKey, Depends(require_scope("subjects:read"))]
Writer = Annotated[ApiKey, Depends(require_scope("subjects:write"))]


def _ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def _out(subject: Subject) -> SubjectOut:
    return SubjectOut(
        id=subject.id,
        status=subject.status,
        created_at=subject.created_at,
        closed_at=subject.closed_at,
        policy_version_shown=subject.policy_version_shown,
    )


def _shown_label(runtime: Runtime) -> str:
    """The version a person signing up now was shown: the one in force (or, before any
    version is published, the file's fingerprint)."""
    current = runtime.book.in_force(runtime.clock.now())
    return f"v{current.facts.seq}" if current else content_hash(runtime.policy)[:12]


@router.post("", status_code=201, summary="Register a person", responses={409: {}})
def register(
    body: RegisterIn, session: SessionDep, runtime: RuntimeDep, key: Writer, actor: ActorDep
) -> SubjectOut:
    access.require_purpose(key, service.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    contact = rules.contact(
        name=body.name,
        email=body.email,
        phone=body.phone,
        address=body.address.model_dump() if body.address else None,
    )
    subject = service.register(
        session,
        _ctx(runtime),
        actor=actor,
        contact=contact,
        marketing_opt_in=body.marketing_opt_in,
        policy_version=body.policy_version or _shown_label(runtime),
    )
    session.commit()
    return _out(subject)


@router.post("/lookup", summary="Find a person by e-mail or phone (sent in the body)")
def lookup(
    body: LookupIn, session: SessionDep, runtime: RuntimeDep, key: Reader, actor: ActorDep
) -> SubjectOut:
    access.require_purpose(key, body.purpose, declared=runtime.policy.purpose_ids)
    contact = rules.contact(email=body.email, phone=body.phone)
    if contact.email is None and contact.phone is None:
        raise LookupKeyMissing("send an e-mail address or a phone number to look up")
    subject = service.lookup(
        session,
        _ctx(runtime),
        actor=actor,
        purpose=body.purpose,
        email=contact.email,
        phone=contact.phone,
    )
    session.commit()
    return _out(subject)


@router.get("/{subject_id:uuid}", summary="Read a person's data for a purpose")
def read(
    subject_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    key: Reader,
    actor: ActorDep,
    purpose: Annotated[str, Query(max_length=80, description="Why the data is read")],
    categories: Annotated[list[str] | None, Query(max_length=20)] = None,
    reference: Annotated[
        str | None,
        Query(
            max_length=400,
            description="Required to read what an erasure kept (purpose legal_obligation): "
            "the case or request the read answers",
        ),
    ] = None,
) -> SubjectDataOut:
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    ctx = _ctx(runtime)
    view = service.read(
        session, ctx, subject_id, purpose=purpose, actor=actor, categories=categories,
        reference=reference,
    )  # fmt: skip
    methods = None
    if rules.PAYMENT in view.decision.allowed:
        methods = [PaymentMethodOut.of(v) for v in payments.views(session, ctx, subject_id)]
    session.commit()
    withheld = [*view.decision.withheld, *view.erased]
    return SubjectDataOut(
        id=view.subject.id,
        status=view.subject.status,
        purpose=purpose,
        data=view.data,
        payment_methods=methods,
        withheld=[
            WithheldOut(category=w.category, rule=w.rule, message=w.message) for w in withheld
        ],
    )


@router.patch("/{subject_id:uuid}", summary="Correct a person's data")
def rectify(
    subject_id: uuid.UUID, body: RectifyIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> SubjectOut:  # fmt: skip
    access.require_purpose(key, service.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    sent = body.model_fields_set
    removed = tuple(
        category
        for name, category in (("phone", rules.PHONE), ("address", rules.ADDRESS))
        if name in sent and getattr(body, name) is None
    )
    contact = rules.contact(
        name=body.name,
        email=body.email,
        phone=body.phone,
        address=body.address.model_dump() if body.address else None,
        remove=removed,
    )
    subject = service.rectify(
        session, _ctx(runtime), subject_id, actor=actor, source=body.source, contact=contact
    )
    session.commit()
    return _out(subject)


@router.post("/{subject_id}/close", summary="Close the account (retention clocks start)")
def close(
    subject_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, key: Writer,
    actor: ActorDep,
) -> SubjectOut:  # fmt: skip
    access.require_purpose(key, service.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    subject = service.close(session, _ctx(runtime), subject_id, actor=actor)
    session.commit()
    return _out(subject)


Purpose = Annotated[str, Query(max_length=80, description="Why the data is read")]
Reference = Annotated[
    str | None,
    Query(
        max_length=400,
        description="Required to read what an erasure kept (purpose legal_obligation): "
        "the case or request the read answers",
    ),
]


@router.get("/{subject_id:uuid}/payment-methods", summary="List a person's cards for a purpose")
def list_payment_methods(
    subject_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, key: Reader,
    actor: ActorDep, purpose: Purpose, reference: Reference = None,
) -> PaymentMethodsOut:  # fmt: skip
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    ctx = _ctx(runtime)
    view = service.read(
        session, ctx, subject_id, purpose=purpose, actor=actor, categories=[rules.PAYMENT],
        reference=reference,
    )  # fmt: skip
    methods = []  # a purpose that may not see cards was refused (403) by the read
    if rules.PAYMENT in view.decision.allowed:
        methods = [PaymentMethodOut.of(v) for v in payments.views(session, ctx, subject_id)]
    session.commit()
    withheld = [*view.decision.withheld, *view.erased]
    return PaymentMethodsOut(
        payment_methods=methods,
        withheld=[
            WithheldOut(category=w.category, rule=w.rule, message=w.message) for w in withheld
        ],
    )


@router.delete(
    "/{subject_id:uuid}/payment-methods/{method_id:uuid}",
    status_code=204,
    summary="Remove a card: its processor token is deleted at once",
    responses={404: {}},
)
def remove_payment_method(
    subject_id: uuid.UUID, method_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> Response:  # fmt: skip
    access.require_purpose(key, service.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    payments.remove(session, _ctx(runtime), subject_id, method_id, actor=actor)
    session.commit()
    return Response(status_code=204)


@router.post("/{subject_id:uuid}/payment-methods", status_code=201, summary="Add a card by token")
def add_payment_method(
    subject_id: uuid.UUID, body: PaymentMethodIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> PaymentMethodOut:  # fmt: skip
    access.require_purpose(key, service.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    view = payments.add(
        session,
        _ctx(runtime),
        subject_id,
        actor=actor,
        processor=body.processor,
        token=body.processor_token,
        brand=body.brand,
        last4=body.last4,
        exp_month=body.exp_month,
        exp_year=body.exp_year,
    )
    session.commit()
    return PaymentMethodOut.of(view)
