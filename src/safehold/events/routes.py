from __future__ import annotations

import re
import uuid
import weakref
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from pydantic_core import to_json

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.events import history, schemas, service, storage
from safehold.events.errors import BatchTooLarge
from safehold.events.models import SubjectDevice
from safehold.events.schemas import (
    BatchIn,
    BatchOut,
    DeviceOut,
    DevicesOut,
    EventsOut,
    LoginHistoryOut,
    LoginOut,
    StoredEventOut,
    WithheldOut,
)
from safehold.runtime import Runtime

router = APIRouter(tags=["events"])
Sender = Annotated[ApiKey, Depends(require_scope("events:write"))]
Reader = Annotated[ApiKey, Depends(require_scope("subjects:read"))]
Purpose = Annotated[str, Query(max_length=80, description="Why the data is read")]
Limit = Annotated[int, Query(ge=1, le=history.MAX_LIMIT)]
_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_JSON_TYPE = re.compile(r"\s*application/([\w.+-]*\+)?json\s*(;|$)", re.IGNORECASE)


def _ctx(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def _counter(registry: CollectorRegistry) -> Counter:
    if registry not in _COUNTERS:
        _COUNTERS[registry] = Counter(
            "safehold_events",
            "Usage events received, by outcome and reason",
            ["status", "reason"],
            registry=registry,
        )
    return _COUNTERS[registry]


async def _batch_body(request: Request, _key: Sender) -> bytes:
    """The raw body, once the key may send events (read here: the route is synchronous)."""
    return await request.body()


Body = Annotated[bytes, Depends(_batch_body)]
_BATCH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": schemas.BATCH_REF}}},
}


def document_batch(app: FastAPI) -> None:
    """Put ``BatchIn``, ``EventIn`` and ``ContextIn`` in ``/openapi.json``'s components: the
    batch route reads its body itself (one bad event must not refuse the others), so FastAPI
    does not see its model."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            found = build().setdefault("components", {}).setdefault("schemas", {})
            found.update(schemas.batch_components())
        return build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension


@router.post(
    "/v1/events",
    status_code=202,
    summary="Send a batch of usage events",
    response_model=None,
    responses={
        202: {"model": BatchOut, "description": "Every event's outcome, in order"},
        413: {"description": "batch_too_large or request_too_large; nothing written"},
    },
    openapi_extra={"requestBody": _BATCH_BODY},
)
def ingest(
    raw: Body, request: Request, session: SessionDep, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """Answered only once the batch is committed. Each event is accepted, a duplicate (its
    `event_id` was received before) or rejected with a reason; the others go on.

    The body is read and validated here in one pass, and the answer serialised once
    (decision 0015)."""
    body = _read(raw, request.headers.get("content-type"))
    limit = runtime.settings.events_max_batch
    if len(body.events) > limit:
        raise BatchTooLarge(
            f"a batch holds at most {limit} events; send the rest in another batch",
            details={"max_events": limit},
        )
    ctx = _ctx(runtime)
    # End the key look-up's transaction before queueing for the process's writer lock: on
    # SQLite every transaction holds the database's write lock from its start, and a batch
    # waiting for the writer lock while holding it would deadlock with the batch ahead.
    session.commit()
    with storage.one_writer(session):
        outcomes = service.ingest(session, ctx, body, actor=actor, received_at=ctx.clock.now())
        session.commit()  # 202 only once every accepted event is durable
    counter = _counter(runtime.registry)
    counts = Tally((o.status, o.refusal.reason.value if o.refusal else "") for o in outcomes)
    for (status, reason), n in counts.items():
        counter.labels(status, reason).inc(n)
    return Response(_batch_out(outcomes, counts), 202, media_type="application/json")


def _batch_out(outcomes: Sequence[service.Outcome], counts: Tally[tuple[str, str]]) -> bytes:
    """``BatchOut`` as JSON: plain dicts in ``BatchOut``'s field order, serialised by
    pydantic-core straight to bytes. Validating 500 ``EventResultOut`` models first cost
    more than the rest of the answer (decision 0045); ``tests/unit/events/test_answer.py``
    checks the bytes against ``BatchOut`` itself."""
    total = {s: sum(n for (status, _), n in counts.items() if status == s) for s in _STATUSES}
    results = []
    for o in outcomes:
        refusal = o.refusal
        results.append(
            {
                "index": o.index,
                "event_id": o.event_id,
                "status": o.status,
                "reason": refusal.reason.value if refusal else None,
                "message": refusal.message if refusal else None,
                "details": (refusal.details if refusal else o.details) or None,
            }
        )
    answer = {
        "accepted": total["accepted"],
        "duplicates": total["duplicate"],
        "rejected": total["rejected"],
        "results": results,
    }
    return to_json(answer)


_STATUSES = ("accepted", "duplicate", "rejected")


def _read(raw: bytes, content_type: str | None) -> BatchIn:
    """The batch, or the whole request refused as FastAPI refuses a body it cannot read
    (422 ``validation_failed``): a type other than JSON, JSON that does not parse, or an
    envelope that is wrong."""
    if content_type and not _JSON_TYPE.match(content_type):
        raise RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "a JSON body is required",
              "input": None}]
        )  # fmt: skip
    try:
        return schemas.read_batch(raw)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in errors]
        ) from None


def _device_out(device: SubjectDevice) -> DeviceOut:
    return DeviceOut(
        device_type=device.device_type,
        os_family=device.os_family,
        os_major=device.os_major,
        browser_family=device.browser_family,
        browser_major=device.browser_major,
        first_seen_at=device.first_seen_at,
        last_seen_at=device.last_seen_at,
    )


def _withheld(allowed: history.Allowed) -> list[WithheldOut]:
    return [
        WithheldOut(category=w.category, rule=w.rule, message=w.message)
        for w in allowed.decision.withheld
    ]


@router.get("/v1/subjects/{subject_id}/logins", summary="A person's login history")
def logins(
    subject_id: uuid.UUID, purpose: Purpose, session: SessionDep, runtime: RuntimeDep,
    key: Reader, actor: ActorDep, limit: Limit = 100,
) -> LoginHistoryOut:  # fmt: skip
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    found = history.login_history(
        session, _ctx(runtime), subject_id, purpose=purpose, actor=actor, limit=limit
    )
    session.commit()
    show_ip = found.allowed.has(service.NETWORK_CATEGORY)
    return LoginHistoryOut(
        subject_id=subject_id,
        purpose=purpose,
        last_login_at=found.last_login_at,
        logins=[
            LoginOut(
                logged_in_at=v.login.logged_in_at,
                logged_out_at=v.login.logged_out_at,
                properties=v.login.properties,
                device=_device_out(v.device) if v.device else None,
                ip=v.ip if show_ip else None,
            )
            for v in found.logins
        ],
        withheld=_withheld(found.allowed),
    )


@router.get("/v1/subjects/{subject_id}/devices", summary="The devices a person uses")
def devices(
    subject_id: uuid.UUID, purpose: Purpose, session: SessionDep, runtime: RuntimeDep,
    key: Reader, actor: ActorDep,
) -> DevicesOut:  # fmt: skip
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    _allowed, found = history.devices(
        session, _ctx(runtime), subject_id, purpose=purpose, actor=actor
    )
    session.commit()
    return DevicesOut(
        subject_id=subject_id, purpose=purpose, devices=[_device_out(d) for d in found]
    )


@router.get("/v1/subjects/{subject_id}/events", summary="A person's latest usage events")
def events(
    subject_id: uuid.UUID, purpose: Purpose, session: SessionDep, runtime: RuntimeDep,
    key: Reader, actor: ActorDep, limit: Limit = 100,
) -> EventsOut:  # fmt: skip
    """Newest first, with personal properties decrypted for the purpose."""
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    found = history.recent_events(
        session, _ctx(runtime), subject_id, purpose=purpose, actor=actor, limit=limit
    )
    session.commit()
    return EventsOut(
        subject_id=subject_id,
        purpose=purpose,
        events=[
            StoredEventOut(
                event_id=e.event_id,
                name=e.name,
                occurred_at=e.occurred_at,
                client_time=e.client_time,
                properties=e.properties,
                device=e.device,
                ip=e.ip,
                is_bot=e.is_bot,
            )
            for e in found.events
        ],
        withheld=[*_withheld(found.allowed), *(
            WithheldOut(category=w.category, rule=w.rule, message=w.message) for w in found.erased
        )],
    )  # fmt: skip
