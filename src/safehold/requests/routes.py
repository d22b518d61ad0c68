"""/v1/requests: open a data-subject request on a person's behalf, verify it with the code
the person received, extend or reject it, answer it (erasure, access, objection,
rectification), read the erasure certificate; /exports/{token}: the person's download."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, StreamingResponse

from safehold import ratelimit
from safehold.access.models import ApiKey
from safehold.comms import service as comms
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.requests import certificate, export, extension, jobs, restriction, rules, service
from safehold.requests.errors import CertificateNotReady
from safehold.requests.models import DataRequest
from safehold.requests.schemas import (
    AccessOut,
    CertificateOut,
    CodeIn,
    ExtendIn,
    RectificationIn,
    RejectIn,
    RequestIn,
    RequestOut,
    RestrictionIn,
    RestrictionOut,
    request_view,
)
from safehold.runtime import Runtime
from safehold.subjects.models import Restriction

router = APIRouter(prefix="/v1/requests", tags=["data-subject requests"])
exports = APIRouter(tags=["data-subject requests"])
# requests:open acts on requests; requests:execute carries out an erasure; requests:write
# (keys made before the split) holds both (decision 0040).
Writer = Annotated[ApiKey, Depends(require_scope("requests:open"))]
Executor = Annotated[ApiKey, Depends(require_scope("requests:execute"))]


def context(runtime: Runtime) -> service.Context:
    return service.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))


def request_out(request: DataRequest, runtime: Runtime) -> RequestOut:
    return request_view(request, runtime.clock.now())


@router.post(
    "", status_code=201, summary="Open a request; e-mails the person a code",
    responses=ratelimit.RESPONSES,
)  # fmt: skip
def create(
    body: RequestIn, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> RequestOut:
    counted = (("requests.open.key", actor.id), ("requests.open.subject", str(body.subject_id)))
    with ratelimit.attempt(runtime, *counted):
        request = service.create(
            session, context(runtime), actor=actor, subject_id=body.subject_id,
            kind=body.kind, channel=body.channel, purpose=body.purpose,
        )  # fmt: skip
        session.commit()
    return request_out(request, runtime)


@router.get("", summary="List requests, soonest deadline first")
def list_requests(
    session: SessionDep, runtime: RuntimeDep, _key: Writer,
    status: Annotated[list[rules.Status] | None, Query()] = None,
    overdue: bool = False, subject_id: uuid.UUID | None = None,
) -> list[RequestOut]:  # fmt: skip
    found = service.listing(
        session, now=runtime.clock.now(), status=[str(s) for s in status or []],
        overdue=overdue, subject_id=subject_id,
    )  # fmt: skip
    return [request_out(r, runtime) for r in found]


@router.get("/{request_id}", summary="One request")
def get_request(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer
) -> RequestOut:
    return request_out(service.get(session, request_id), runtime)


@router.post(
    "/{request_id}/code", status_code=202, summary="Send a new code",
    responses=ratelimit.RESPONSES,
)  # fmt: skip
def resend(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> RequestOut:
    request = service.get(session, request_id, lock=True)
    with ratelimit.attempt(runtime, ("requests.code.subject", str(request.subject_id))):
        service.issue_code(session, context(runtime), request, actor=actor)
        session.commit()
    return request_out(request, runtime)


@router.post(
    "/{request_id}/verification", summary="Check the code the person received",
    responses=ratelimit.RESPONSES,
)  # fmt: skip
def verify(
    request_id: uuid.UUID, body: CodeIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RequestOut:  # fmt: skip
    counted = (("requests.verify.key", actor.id), ("requests.verify.request", str(request_id)))
    with ratelimit.attempt(runtime, *counted):
        request = service.verify(session, context(runtime), request_id, actor=actor, code=body.code)
        session.commit()
    return request_out(request, runtime)


@router.post(
    "/{request_id}/extension",
    summary="Extend the deadline once, with a reason, before it passes; e-mails the person",
)
def extend(
    request_id: uuid.UUID, body: ExtendIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RequestOut:  # fmt: skip
    request = extension.extend(
        session, context(runtime), request_id, actor=actor, reason=body.reason,
        extension=body.extension,
    )  # fmt: skip
    session.commit()
    return request_out(request, runtime)


@router.post("/{request_id}/rejection", summary="Reject, with a reason from the closed list")
def reject(
    request_id: uuid.UUID, body: RejectIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RequestOut:  # fmt: skip
    request = service.reject(session, context(runtime), request_id, actor=actor, reason=body.reason)
    session.commit()
    return request_out(request, runtime)


@router.post("/{request_id}/erasure", summary="Carry out (or resume) a verified erasure")
def run_erasure(
    request_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    _key: Executor,
    actor: ActorDep,
) -> CertificateOut:
    # The job owns its transactions (one per step), so it takes the session factory; the
    # request's own session (the key check) ends first, holding nothing while the job runs.
    session.commit()
    return CertificateOut(
        certificate=jobs.erase(runtime.sessions, context(runtime), request_id, actor=actor)
    )


@router.post("/{request_id}/access", summary="Answer a verified access request: a download link")
def fulfil_access(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> AccessOut:
    grant = service.fulfil_access(session, context(runtime), request_id, actor=actor)
    session.commit()
    return AccessOut(url=grant.path, expires_at=grant.expires_at)


@router.post("/{request_id}/objection", summary="Carry out a verified objection")
def object_to(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> RequestOut:
    request = service.object_to(session, context(runtime), request_id, actor=actor)
    session.commit()
    return request_out(request, runtime)


@router.post("/{request_id}/rectification", summary="Correct the data of a verified request")
def rectify(
    request_id: uuid.UUID, body: RectificationIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RequestOut:  # fmt: skip
    request = service.rectify(
        session, context(runtime), request_id, actor=actor, values=body.values
    )
    session.commit()
    return request_out(request, runtime)


def restriction_out(row: Restriction) -> RestrictionOut:
    return RestrictionOut(
        request_id=row.request_id, subject_id=row.subject_id, reason=row.reason,
        applied_at=row.applied_at, lift_reason=row.lift_reason,
        lift_notice_at=row.lift_notice_at, lifted_at=row.lifted_at,
    )  # fmt: skip


@router.post("/{request_id}/restriction", summary="Restrict processing (a verified request)")
def restrict(
    request_id: uuid.UUID, body: RestrictionIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RestrictionOut:  # fmt: skip
    row = restriction.apply(session, context(runtime), request_id, actor=actor, reason=body.reason)
    session.commit()
    return restriction_out(row)


@router.post(
    "/{request_id}/restriction/lift-notice",
    summary="E-mail the person that the restriction will be lifted (Art. 18(3))",
)  # fmt: skip
def announce_lift(
    request_id: uuid.UUID, body: RestrictionIn, session: SessionDep, runtime: RuntimeDep,
    _key: Writer, actor: ActorDep,
) -> RestrictionOut:  # fmt: skip
    row = restriction.announce_lift(
        session, context(runtime), request_id, actor=actor, reason=body.reason
    )
    session.commit()
    return restriction_out(row)


@router.post("/{request_id}/restriction/lift", summary="Lift it, once the person was told")
def lift(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer, actor: ActorDep
) -> RestrictionOut:
    row = restriction.lift(session, context(runtime), request_id, actor=actor)
    session.commit()
    return restriction_out(row)


@exports.get(
    "/exports/{token}", summary="Download one's data (the link is the authority)",
    response_class=StreamingResponse, response_model=None,
    responses={200: {"content": {"application/json": {}}}},
)  # fmt: skip
def download(
    token: str, session: SessionDep, runtime: RuntimeDep,
    format: Annotated[str, Query(pattern="^(json|html)$")] = "json",
) -> StreamingResponse | HTMLResponse:  # fmt: skip
    ctx = context(runtime)
    request = export.resolve_link(session, ctx, token)
    if format == "html":
        page = export.render_html(session, ctx, request.subject_id)
        session.commit()
        return HTMLResponse(page)
    session.commit()  # holds nothing while the body streams (its batches have their own)
    name = f"safehold-export-{request.id}.json"
    return StreamingResponse(
        export.stream_json(runtime.sessions, ctx, request.subject_id),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _certificate(session: SessionDep, request_id: uuid.UUID) -> dict[str, object]:
    request = service.get(session, request_id)
    if request.certificate is None:
        raise CertificateNotReady("no certificate: the erasure has not finished", details={})
    return request.certificate


@router.get("/{request_id}/certificate", summary="The erasure certificate (JSON)")
def get_certificate(request_id: uuid.UUID, session: SessionDep, _key: Writer) -> CertificateOut:
    return CertificateOut(certificate=_certificate(session, request_id))


@router.get(
    "/{request_id}/certificate.html", summary="The erasure certificate (page)",
    response_class=HTMLResponse,
)  # fmt: skip
def get_certificate_html(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Writer
) -> HTMLResponse:
    cert = _certificate(session, request_id)
    return HTMLResponse(certificate.render_html(cert, runtime.policy))
