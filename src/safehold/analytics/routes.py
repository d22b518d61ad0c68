"""HTTP: the k-anonymous reports (``analytics:read``, purpose ``platform_improvement``) and
recording or withdrawing a person's objection (``subjects:write``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.access.rules import Actor
from safehold.analytics import jobs, render, reports, rules, service
from safehold.analytics.errors import NotObjectable
from safehold.analytics.models import Objection
from safehold.analytics.schemas import ObjectionIn, ObjectionOut, ReportOut, RowOut
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.errors import InvalidInput
from safehold.runtime import Runtime
from safehold.subjects import service as subjects

router = APIRouter(tags=["analytics"])
Reader = Annotated[ApiKey, Depends(require_scope("analytics:read"))]
Writer = Annotated[ApiKey, Depends(require_scope("subjects:write"))]
Format = Literal["json", "csv", "svg"]
REPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {}, "image/svg+xml": {}}},
    409: {"description": "the month is not final yet"},
}


def _answer(report: reports.Report, fmt: Format, chart: str = "people") -> Response:
    if fmt == "csv":
        return Response(render.to_csv(report), media_type="text/csv; charset=utf-8")
    if fmt == "svg":
        return Response(render.to_svg(report, chart), media_type="image/svg+xml")
    body = ReportOut(
        report=report.name, k=report.k, first=report.first, last=report.last,
        fields=list(report.fields), measures=list(report.measures), withheld=report.withheld,
        folded=report.folded,
        rows=[
            RowOut(
                values=r.values, status=r.status, people=r.people, events=r.events,
                errors=r.errors, error_rate=r.error_rate,
            )
            for r in report.rows
        ],
    )  # fmt: skip
    return Response(body.model_dump_json(), media_type="application/json")


def _month(text: str) -> date:
    month = rules.parse_month(text)
    if month is None:
        raise InvalidInput(
            f"month must look like 2026-03, between {rules.FIRST_DAY:%Y-%m} and "
            f"{rules.LAST_DAY:%Y-%m}",
            details={"field": "month"},
        )
    return month


SERIES = {"active": reports.active_people, "logins": reports.signed_in_people}


@router.get("/v1/analytics/active", summary="Active people per day, week or month",
            response_model=ReportOut, responses=REPORT_RESPONSES)  # fmt: skip
def active(
    session: SessionDep, runtime: RuntimeDep, key: Reader, actor: ActorDep,
    start: date, end: date, period: reports.Period = "day", format: Format = "json",
) -> Response:  # fmt: skip
    return _series("active", session, runtime, key, actor, start, end, period, format)


@router.get("/v1/analytics/logins", summary="People who signed in, per day, week or month",
            response_model=ReportOut, responses=REPORT_RESPONSES)  # fmt: skip
def logins(
    session: SessionDep, runtime: RuntimeDep, key: Reader, actor: ActorDep,
    start: date, end: date, period: reports.Period = "day", format: Format = "json",
) -> Response:  # fmt: skip
    return _series("logins", session, runtime, key, actor, start, end, period, format)


def _series(
    name: str, session: Session, runtime: Runtime, key: ApiKey, actor: Actor,
    start: date, end: date, period: reports.Period, format: Format,
) -> Response:  # fmt: skip
    access.require_purpose(key, rules.PURPOSE, declared=runtime.policy.purpose_ids)
    for field, day in (("start", start), ("end", end)):
        if not rules.in_range(day):
            raise InvalidInput(
                f"{field} must lie between {rules.FIRST_DAY} and {rules.LAST_DAY}",
                details={"field": field},
            )
    if end < start:
        raise InvalidInput("end is before start", details={"field": "end"})
    report = SERIES[name](
        session, k=runtime.policy.analytics.k_anonymity, period=period, first=start, last=end,
        actor=actor, clock=runtime.clock,
    )  # fmt: skip
    session.commit()
    return _answer(report, format)


@router.get("/v1/analytics/{kind}", summary="A month's features, logins, compatibility or errors",
            response_model=ReportOut, responses=REPORT_RESPONSES)  # fmt: skip
def month_table(
    kind: reports.TableKind, session: SessionDep, runtime: RuntimeDep, key: Reader,
    actor: ActorDep, month: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    format: Format = "json",
) -> Response:  # fmt: skip
    access.require_purpose(key, rules.PURPOSE, declared=runtime.policy.purpose_ids)
    report = reports.table(
        session, k=runtime.policy.analytics.k_anonymity, kind=kind, month=_month(month),
        actor=actor, clock=runtime.clock, grace=jobs.grace(runtime),
    )  # fmt: skip
    session.commit()
    return _answer(report, format, "error_rate" if kind == "errors" else "people")


def _objection_out(objection: Objection) -> ObjectionOut:
    return ObjectionOut(
        id=objection.id, subject_id=objection.subject_id, purpose=objection.purpose,
        objected_at=objection.objected_at, withdrawn_at=objection.withdrawn_at,
    )  # fmt: skip


def _objectable(runtime: Runtime, purpose: str) -> None:
    policy = runtime.policy
    if purpose not in policy.purpose_ids or not policy.purpose(purpose).objectable:
        raise NotObjectable("that purpose is not one a person can object to", details={})


@router.post("/v1/subjects/{subject_id}/objections", status_code=201,
             summary="Record a person's objection to a purpose")  # fmt: skip
def object_to(
    subject_id: uuid.UUID, body: ObjectionIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> ObjectionOut:  # fmt: skip
    access.require_purpose(key, subjects.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    _objectable(runtime, body.purpose)
    subject = subjects.get(session, subject_id)
    objection = service.record_objection(
        session, subject_id=subject.id, purpose=body.purpose, actor=actor, clock=runtime.clock
    )
    session.commit()
    return _objection_out(objection)


@router.delete("/v1/subjects/{subject_id}/objections/{purpose}",
               summary="Withdraw a person's objection to a purpose")  # fmt: skip
def withdraw(
    subject_id: uuid.UUID, purpose: Annotated[str, Path(max_length=80)], session: SessionDep,
    runtime: RuntimeDep, key: Writer, actor: ActorDep,
) -> ObjectionOut:  # fmt: skip
    """The objection in force ends now (404 ``analytics.objection_not_found`` when there is
    none); it stays in the person's history, and what happened while it was in force stays
    out of the reports."""
    access.require_purpose(key, subjects.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    _objectable(runtime, purpose)
    subject = subjects.get(session, subject_id)
    objection = service.withdraw_objection(
        session, subject_id=subject.id, purpose=purpose, actor=actor, clock=runtime.clock
    )
    session.commit()
    return _objection_out(objection)
