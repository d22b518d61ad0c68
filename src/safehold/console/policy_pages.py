"""Console pages for the policy and what it drives: versions and publication, retention
status (next expiries, the last run, holds in force) and the analytics charts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from safehold.access import service as access
from safehold.analytics import jobs as analytics_jobs
from safehold.analytics import rules as analytics_rules
from safehold.comms import service as comms
from safehold.console import charts, common, rules, service
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import SafeholdError
from safehold.notices import service as notices
from safehold.notices.announce import announce
from safehold.notices.errors import ChangeClassLowered, EffectiveTooSoon, PolicyInvalid
from safehold.notices.models import PolicyVersion
from safehold.runtime import Runtime
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
ISSUES_SHOWN = 8  # problems of a rejected policy file listed under the field
FIELD_OF: dict[type[SafeholdError], str] = {  # the field a refusal is shown next to
    ChangeClassLowered: "change_class",
    EffectiveTooSoon: "effective_on",
}


def _policy(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime, *,
    errors: dict[str, str] | None = None, issues: list[str] | None = None,
    form: dict[str, str] | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    versions: list[PolicyVersion] = list(reversed(notices.versions(session)))
    current = runtime.book.in_force(runtime.clock.now())
    return common.page(
        request, signed_in, "console/policy.html",
        {"versions": versions, "in_force": current.facts.seq if current else None,
         "progress": notices.progress(session),
         "errors": errors or {}, "issues": issues or [], "form": form or {},
         "notice": rules.NOTICES.get(request.query_params.get("done", ""))},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/policy", response_class=HTMLResponse)
def policy(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    common.guard(signed_in, "policy:admin")
    return _policy(request, signed_in, session, runtime)


def _source(pasted: str | None, upload: UploadFile | None) -> tuple[str | None, str | None]:
    """The YAML (an uploaded file wins over the text box) or the reason there is none."""
    if upload is not None and upload.filename:
        raw = upload.file.read(rules.POLICY_UPLOAD_MAX + 1)
        if len(raw) > rules.POLICY_UPLOAD_MAX:
            return None, "That file is larger than a policy file can be (500 kB)."
        try:
            return raw.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, "That file is not UTF-8 text: upload the policy's YAML file."
    text = (pasted or "").replace("\r\n", "\n")
    if not text.strip():
        return None, "Paste the new policy file (YAML) or choose the file to upload."
    if len(text) > rules.POLICY_UPLOAD_MAX:
        return None, "That is longer than a policy file can be (500 kB)."
    return text, None


@router.post("/admin/policy", response_class=HTMLResponse)
def publish(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, source: Field = None, effective_on: Field = None,
    change_class: Field = None, policy_file: Annotated[UploadFile | None, File()] = None,
) -> Response:  # fmt: skip
    common.guard(signed_in, "policy:admin")
    form = {"source": source or "", "effective_on": effective_on or "",
            "change_class": change_class or ""}  # fmt: skip
    text, problem = _source(source, policy_file)
    errors: dict[str, str] = {}
    if problem is not None:
        errors["source"] = problem
    effective_at = None
    if effective_on:
        try:
            effective_at = datetime.combine(date.fromisoformat(effective_on), datetime.min.time(),
                                            UTC)  # fmt: skip
        except ValueError:
            errors["effective_on"] = "Enter a date like 2026-04-01."
    wanted = change_class if change_class in {"minor", "material"} else None
    if errors or text is None:
        return _policy(request, signed_in, session, runtime, errors=errors, form=form,
                       status_code=422)  # fmt: skip
    actor = pages.actor_of(request, signed_in)
    try:
        published = notices.publish(
            session, source=text, source_name="the submitted policy", effective_at=effective_at,
            requested_class=wanted, clock=runtime.clock, actor=actor,
            site=runtime.settings.base_url,
        )  # fmt: skip
    except SafeholdError as exc:
        session.rollback()
        field = FIELD_OF.get(type(exc), "source")
        issues = exc.details.get("issues", []) if isinstance(exc, PolicyInvalid) else []
        return _policy(
            request, signed_in, session, runtime, errors={field: common.message(exc)},
            issues=[str(i) for i in issues[:ISSUES_SHOWN]], form=form,
            status_code=common.status_of(exc),
        )  # fmt: skip
    if published.previous is not None:  # the first version has nobody to tell yet
        announce(session, comms.context(runtime), published.version, actor=actor)
    session.commit()
    runtime.book.load(session)
    return pages.redirect("/admin/policy?done=published")


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
    access.require_purpose(key, analytics_rules.PURPOSE, declared=runtime.policy.purpose_ids)
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
