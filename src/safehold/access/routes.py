from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.convertors import StringConvertor, register_url_convertor

from safehold.access import audit, checkpoints, service
from safehold.access.errors import NoCheckpoint
from safehold.access.models import ApiKey
from safehold.access.rules import KEY_ID_PATTERN, Actor
from safehold.access.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEntryOut,
    AuditPage,
    CheckpointOut,
)
from safehold.deps import ApiKeyDep, RuntimeDep, SessionDep, require_scope

router = APIRouter(prefix="/v1/keys", tags=["API keys"])
audit_router = APIRouter(prefix="/v1/audit", tags=["audit"])
KeysAdmin = Annotated[ApiKey, Depends(require_scope("keys:admin"))]
AuditReader = Annotated[ApiKey, Depends(require_scope("audit:read"))]


@router.get("/me", summary="The calling key: its scopes and allowed purposes")
def whoami(key: ApiKeyDep) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key)


@router.get("", summary="List API keys (secrets are never shown again)")
def list_keys(session: SessionDep, _key: KeysAdmin) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in service.list_keys(session)]


@router.post("", status_code=201, summary="Create a key no wider than the caller's own")
def create_key(
    body: ApiKeyCreate, session: SessionDep, runtime: RuntimeDep, caller: KeysAdmin
) -> ApiKeyCreated:
    created = service.create_key(
        session,
        name=body.name,
        scopes=body.scopes,
        purposes=body.purposes,
        known_purposes=runtime.policy.purpose_ids,
        clock=runtime.clock,
        actor=Actor("api_key", caller.id),
        granter=caller,
    )
    session.commit()
    out = ApiKeyOut.model_validate(created.key).model_dump()
    return ApiKeyCreated(**out, token=created.token)


class _KeyIdConvertor(StringConvertor):
    regex = KEY_ID_PATTERN


register_url_convertor("key_id", _KeyIdConvertor())


@router.delete(
    "/{key_id:key_id}", summary="Revoke a key no wider than the caller's own (or itself)"
)
def revoke_key(
    key_id: Annotated[str, Path(pattern=f"^{KEY_ID_PATTERN}$")],
    session: SessionDep,
    runtime: RuntimeDep,
    caller: KeysAdmin,
) -> ApiKeyOut:
    key = service.revoke_key(session, key_id, clock=runtime.clock, revoker=caller)
    session.commit()
    return ApiKeyOut.model_validate(key)


@audit_router.get("", summary="Audit entries, oldest first, optionally for one person")
def audit_entries(
    session: SessionDep,
    _key: AuditReader,
    subject: Annotated[uuid.UUID | None, Query(description="A person's id")] = None,
    after: Annotated[
        int, Query(ge=0, le=audit.MAX_SEQ, description="Only entries after this seq")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    rows = audit.entries(session, subject_id=subject, after=after, limit=limit)
    return AuditPage(
        entries=[AuditEntryOut.model_validate(r) for r in rows],
        next_after=rows[-1].seq if len(rows) == limit else None,
    )


@audit_router.get(
    "/checkpoints/latest",
    summary="The latest checkpoint: every chain's head, sealed with the audit key",
    responses={404: {"description": "No checkpoint has been made yet"}},
)
def latest_checkpoint(session: SessionDep, _key: AuditReader) -> CheckpointOut:
    """Poll and keep these: `safehold audit verify --expect` checks the log against one."""
    made = checkpoints.latest(session)
    if made is None:
        raise NoCheckpoint("no audit checkpoint has been made yet")
    return CheckpointOut.model_validate(made.document())
