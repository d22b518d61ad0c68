"""Console pages for the policy and what it drives: versions and publication, retention
status (next expiries, the last run, holds in force) and the analytics charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from safehold.analytics import jobs as analytics_jobs
from safehold.analytics import rules as analytics_rules
from safehold.console import charts, common, publish_pages, rules, service
from safehold.deps import RuntimeDep, SessionDep
from safehold.web import pages
from safehold.web.pages import StaffDep

router = APIRouter(include_in_schema=False)
router.include_router(publish_pages.router)  # /admin/policy: versions, preview, withdrawal


@router.get("/admin/retention", response_class=HTMLResponse)
def retention(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    common.guard(signed_in, "holds:write")
    now = runtime.clock.now()
    view = service.retention_status(session, runtime.policy, now)
    return common.page(request, signed_in, "console/retention.html", {"view": view, "now": now})


@router.get("/admin/analytics", response_class=HTMLResponse)
def analytics(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep,
    month: str | None = None,
) -> HTMLResponse:  # fmt: skip
    key = common.guard(signed_in, "analytics:read")
    common.require_purpose(key, analytics_rules.PURPOSE, declared=runtime.policy.purpose_ids)
    now = runtime.clock.now()
    chosen = analytics_rules.parse_month(month)
    errors = {"month": "Choose a month like 2026-02."} if month and chosen is None else {}
    shown = chosen or rules.previous_month(now.date())
    k = runtime.policy.analytics.k_anonymity
    found, missing = charts.sections(
        session,
        month=shown,
        k=k,
        actor=pages.actor_of(request, signed_in),
        clock=runtime.clock,
        grace=analytics_jobs.grace(runtime),
    )
    session.commit()  # each report's audit entry
    return common.page(
        request, signed_in, "console/analytics.html",
        {"sections": found, "missing": missing, "month": f"{shown:%Y-%m}", "k": k,
         "errors": errors},
        status_code=422 if errors else 200,
    )  # fmt: skip
