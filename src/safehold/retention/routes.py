from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from safehold.access.models import ApiKey
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.retention import rules, service
from safehold.retention.models import LegalHold
from safehold.retention.schemas import HoldIn, HoldOut
from safehold.runtime import Runtime

router = APIRouter(prefix="/v1/holds", tags=["legal holds"])
Writer = Annotated[ApiKey, Depends(require_scope("holds:write"))]


def hold_out(hold: LegalHold, runtime: Runtime) -> HoldOut:
    return HoldOut(
        id=hold.id, subject_id=hold.subject_id, categories=hold.categories, reason=hold.reason,
        legal_basis=hold.legal_basis, until=hold.until,
        active=rules.is_active(hold.lifted_at, hold.until, runtime.clock.now()),
        created_at=hold.created_at, lifted_at=hold.lifted_at,
    )  # fmt: skip


@router.post("", status_code=201, summary="Place a legal hold")
def place(
    body: HoldIn, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> HoldOut:
    hold = service.place(
        session, policy=runtime.policy, clock=runtime.clock, actor=actor,
        subject_id=body.subject_id, categories=body.categories, reason=body.reason,
        legal_basis=body.legal_basis, until=body.until,
    )  # fmt: skip
    session.commit()
    return hold_out(hold, runtime)


@router.get("", summary="List legal holds")
def list_holds(
    session: SessionDep, runtime: RuntimeDep, _key: Writer,
    subject_id: uuid.UUID | None = None,
    active: Annotated[bool, Query(description="Only holds in force now")] = False,
) -> list[HoldOut]:  # fmt: skip
    at = runtime.clock.now() if active else None
    return [
        hold_out(h, runtime) for h in service.holds(session, subject_id=subject_id, active_at=at)
    ]


@router.get("/{hold_id}", summary="One legal hold")
def get_hold(hold_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer) -> HoldOut:
    return hold_out(service.get(session, hold_id), runtime)


@router.delete("/{hold_id}", summary="Lift a legal hold")
def lift(
    hold_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> HoldOut:
    hold = service.lift(session, hold_id, clock=runtime.clock, actor=actor)
    session.commit()
    return hold_out(hold, runtime)
