from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy import select

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.deps import ActorDep, ApiKeyDep, RuntimeDep, SessionDep, require_scope
from safehold.runtime import Runtime
from safehold.sharing import propagation, ropa, ropa_read, rules, service
from safehold.sharing.models import Propagation
from safehold.sharing.schemas import (
    DisclosureDetailOut,
    DisclosureIn,
    DisclosureOut,
    DisclosurePackageOut,
    DisclosurePersonOut,
    PersonDisclosureOut,
    PersonPackageOut,
    PropagationOut,
    RecipientOut,
)
from safehold.subjects.errors import SubjectNotFound
from safehold.subjects.models import Subject
from safehold.subjects.schemas import PaymentMethodOut, WithheldOut
from safehold.subjects.service import Context

router = APIRouter(tags=["sharing"])
Writer = Annotated[ApiKey, Depends(require_scope("disclosures:write"))]
Reader = Annotated[ApiKey, Depends(require_scope("disclosures:read"))]
RopaReader = Annotated[ApiKey, Depends(require_scope("ropa:read"))]
Paging = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=1000)]


class RopaFormat(StrEnum):
    json = "json"
    md = "md"
    html = "html"


def _ctx(runtime: Runtime) -> Context:
    return Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


@router.get(
    "/v1/recipients", summary="The recipients the policy declares, and how notices reach them"
)
def list_recipients(runtime: RuntimeDep, _key: ApiKeyDep) -> list[RecipientOut]:
    views = service.recipients(_ctx(runtime), runtime.settings.webhooks)
    return [RecipientOut.model_validate(v) for v in views]


@router.post(
    "/v1/disclosures", status_code=201, summary="Disclose data to a recipient as the policy allows"
)
def disclose(
    body: DisclosureIn, session: SessionDep, runtime: RuntimeDep, key: Writer, actor: ActorDep
) -> DisclosurePackageOut:
    access.require_purpose(key, body.purpose, declared=runtime.policy.purpose_ids)
    result = service.disclose(
        session,
        _ctx(runtime),
        actor=actor,
        recipient=body.recipient,
        purpose=body.purpose,
        subject_ids=body.subjects,
        categories=body.categories,
        reference=body.reference,
    )
    session.commit()  # on record before the data leaves
    return DisclosurePackageOut(
        disclosure=DisclosureOut.model_validate(result.disclosure),
        people=[
            PersonPackageOut(
                subject_id=p.subject_id,
                outcome=p.outcome,
                rule=p.rule,
                message=p.message,
                data=p.data,
                payment_methods=(
                    None
                    if p.payment_methods is None
                    else [PaymentMethodOut.of(m) for m in p.payment_methods]
                ),
                withheld=[
                    WithheldOut(category=w.category, rule=w.rule, message=w.message)
                    for w in p.withheld
                ],
                nothing_held=p.nothing_held,
            )
            for p in result.people
        ],
    )


@router.get("/v1/disclosures", summary="Disclosure records, newest first")
def list_disclosures(
    session: SessionDep,
    _key: Reader,
    recipient: Annotated[str | None, Query(max_length=80)] = None,
    offset: Paging = 0,
    limit: Limit = 100,
) -> list[DisclosureOut]:
    rows = service.list_disclosures(session, recipient=recipient, offset=offset, limit=limit)
    return [DisclosureOut.model_validate(r) for r in rows]


@router.get("/v1/disclosures/{disclosure_id}", summary="One disclosure and the people in it")
def get_disclosure(
    disclosure_id: uuid.UUID, session: SessionDep, _key: Reader
) -> DisclosureDetailOut:
    disclosure = service.get_disclosure(session, disclosure_id)
    people = service.people_of(session, disclosure_id)
    return DisclosureDetailOut(
        disclosure=DisclosureOut.model_validate(disclosure),
        people=[DisclosurePersonOut.model_validate(p) for p in people],
    )


@router.get(
    "/v1/subjects/{subject_id}/disclosures",
    summary="Who received this person's data, and why",
    responses={404: {}},
)
def person_disclosures(
    subject_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    _key: Reader,
    include_refused: bool = False,
) -> list[PersonDisclosureOut]:
    lines = service.disclosures_for(
        session, _ctx(runtime), subject_id, include_refused=include_refused
    )
    if not lines and session.scalar(select(Subject.id).where(Subject.id == subject_id)) is None:
        raise SubjectNotFound("no person with that id", details={"subject_id": str(subject_id)})
    return [PersonDisclosureOut.model_validate(line) for line in lines]


def _propagation_out(row: Propagation, webhooks: Collection[str], now: datetime) -> PropagationOut:
    state = rules.State(row.state)
    return PropagationOut(
        id=row.id,
        subject_id=row.subject_id,
        recipient_id=row.recipient_id,
        event=row.event,
        categories=row.categories,
        status="acknowledged" if state is rules.State.ACKNOWLEDGED else "pending",
        state=state.value,
        delivery="webhook" if row.recipient_id in webhooks else "manual",
        created_at=row.created_at,
        due_at=row.due_at,
        overdue=rules.is_overdue(state, row.due_at, now),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )


@router.get("/v1/propagations", summary="Notices owed to recipients: outstanding and overdue")
def list_propagations(
    session: SessionDep,
    runtime: RuntimeDep,
    _key: Reader,
    status: propagation.StatusFilter = "pending",
    overdue: bool = False,
    subject: uuid.UUID | None = None,
    recipient: Annotated[str | None, Query(max_length=80)] = None,
    offset: Paging = 0,
    limit: Limit = 100,
) -> list[PropagationOut]:
    now = runtime.clock.now()
    rows = propagation.list_propagations(
        session,
        now=now,
        status=status,
        overdue=overdue,
        subject_id=subject,
        recipient=recipient,
        offset=offset,
        limit=limit,
    )
    return [_propagation_out(r, runtime.settings.webhooks, now) for r in rows]


@router.post(
    "/v1/propagations/{propagation_id}/acknowledge",
    summary="Record that the recipient was told and confirmed",
    responses={404: {}, 409: {}},
)
def acknowledge(
    propagation_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer,
    actor: ActorDep,
) -> PropagationOut:  # fmt: skip
    row = propagation.acknowledge(session, propagation_id, actor=actor, clock=runtime.clock)
    session.commit()
    return _propagation_out(row, runtime.settings.webhooks, runtime.clock.now())


@router.post(
    "/v1/propagations/{propagation_id}/retry",
    summary="Start fresh webhook attempts for a notice that gave up",
    responses={404: {}, 409: {}},
)
def retry(
    propagation_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer
) -> PropagationOut:
    row = propagation.retry(session, propagation_id, clock=runtime.clock)
    session.commit()
    return _propagation_out(row, runtime.settings.webhooks, runtime.clock.now())


@router.get(
    "/v1/ropa",
    summary="The record of processing activities (GDPR Art. 30), from the policy and live data",
    response_model=ropa.Ropa,
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
)
def record_of_processing(
    session: SessionDep,
    runtime: RuntimeDep,
    _key: RopaReader,
    actor: ActorDep,
    fmt: Annotated[RopaFormat, Query(alias="format")] = RopaFormat.json,
    verify: Annotated[bool, Query(description="Walk the audit chain (slow on long logs)")] = False,
) -> Response | ropa.Ropa:
    """Each read is audited (``ropa.read``)."""
    document = ropa_read.read(
        session, policy=runtime.policy, vault=runtime.vault, clock=runtime.clock,
        webhooks=runtime.settings.webhooks, actor=actor, verify_audit=verify,
    )  # fmt: skip
    session.commit()  # the read's audit entry
    if fmt is RopaFormat.md:
        return PlainTextResponse(ropa.render_markdown(document), media_type="text/markdown")
    if fmt is RopaFormat.html:
        return HTMLResponse(ropa.render_html(document))
    return document
