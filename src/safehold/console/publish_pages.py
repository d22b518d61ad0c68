"""Console pages for policy versions: the list with acceptance progress, publishing in two
steps (a preview of the change class, the rule changes — which wait for each person's
acceptance and which apply to everyone — the notice and who gets it, and the text side by
side; then the confirmation), and withdrawing a scheduled version (decision 0034)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from safehold.comms import service as comms
from safehold.console import common, rules
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import SafeholdError
from safehold.notices import rules as notice_rules
from safehold.notices import service as notices
from safehold.notices import textdiff, withdrawal
from safehold.notices.announce import announce, audience, notice_text
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
Seq = Annotated[int, Path(ge=1, le=notice_rules.MAX_VERSION)]


def _policy(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime, *,
    errors: dict[str, str] | None = None, issues: list[str] | None = None,
    form: dict[str, str] | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    found = notices.versions(session)
    withdrawn = notices.withdrawals(session)
    now = runtime.clock.now()
    current = runtime.book.in_force(now)
    newest = max((v.seq for v in found if v.seq not in withdrawn), default=None)
    return common.page(
        request, signed_in, "console/policy.html",
        {"versions": list(reversed(found)), "in_force": current.facts.seq if current else None,
         "progress": notices.progress(session), "withdrawn": withdrawn,
         "follows": notice_rules.follows([v.seq for v in found], set(withdrawn)),
         "withdrawable": {v.seq for v in found if v.seq == newest
                          and v.effective_at > now + withdrawal.WITHDRAW_BEFORE},
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


def _checked(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    form: dict[str, str], upload: UploadFile | None,
) -> tuple[notices.Plan | None, HTMLResponse | None]:  # fmt: skip
    """The plan of the submitted file, or the policy page with the refusal by its field."""
    text, problem = _source(form["source"], upload)
    errors: dict[str, str] = {}
    if problem is not None:
        errors["source"] = problem
    effective_at = None
    if form["effective_on"]:
        try:
            effective_at = datetime.combine(date.fromisoformat(form["effective_on"]),
                                            datetime.min.time(), UTC)  # fmt: skip
        except ValueError:
            errors["effective_on"] = "Enter a date like 2026-04-01."
    wanted = form["change_class"] if form["change_class"] in {"minor", "material"} else None
    if errors or text is None:
        return None, _policy(request, signed_in, session, runtime, errors=errors, form=form,
                             status_code=422)  # fmt: skip
    form["source"] = text
    try:
        return notices.plan(
            session, source=text, source_name="the submitted policy", effective_at=effective_at,
            requested_class=wanted, clock=runtime.clock, site=runtime.settings.base_url,
        ), None  # fmt: skip
    except SafeholdError as exc:
        field = FIELD_OF.get(type(exc), "source")
        issues = exc.details.get("issues", []) if isinstance(exc, PolicyInvalid) else []
        return None, _policy(
            request, signed_in, session, runtime, errors={field: common.message(exc)},
            issues=[str(i) for i in issues[:ISSUES_SHOWN]], form=form,
            status_code=common.status_of(exc),
        )  # fmt: skip


def _preview(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    plan: notices.Plan, form: dict[str, str], *, stale: bool = False,
) -> HTMLResponse:  # fmt: skip
    """What publishing would do, and the button that does it."""
    material = [c for c in plan.changes if c["change_class"] == notice_rules.MATERIAL]
    draft = PolicyVersion(
        seq=plan.seq, change_class=plan.change_class, changes=plan.changes,
        effective_at=plan.effective_at,
    )  # fmt: skip
    ctx = comms.context(runtime)
    subject, body = notice_text(draft)
    values = {"name": "[the person's name]", **ctx.template_context()}
    for key, value in values.items():
        body = body.replace("{{ " + key + " }}", value)
    before = plan.previous.rendered_md if plan.previous else ""
    rows = textdiff.side_by_side(textdiff.readable(before), textdiff.readable(plan.rendered_md))
    context: dict[str, Any] = {
        "plan": plan, "form": form, "stale": stale,
        "minor": [c for c in plan.changes if c["change_class"] != notice_rules.MATERIAL],
        "held": [c for c in material if notice_rules.held_back(str(c["kind"]))],
        "everyone": [c for c in material if not notice_rules.held_back(str(c["kind"]))],
        "audience": audience(session, ctx.policy) if plan.previous else None,
        "notice_subject": subject, "notice_body": body, "rows": rows, **textdiff.counts(rows),
    }  # fmt: skip
    return common.page(request, signed_in, "console/policy_preview.html", context,
                       status_code=409 if stale else 200)  # fmt: skip


@router.post("/admin/policy", response_class=HTMLResponse)
def preview(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, source: Field = None, effective_on: Field = None,
    change_class: Field = None, policy_file: Annotated[UploadFile | None, File()] = None,
) -> Response:  # fmt: skip
    """Step one: check the file and show what publishing it would do. Nothing is stored."""
    common.guard(signed_in, "policy:admin")
    form = {"source": source or "", "effective_on": effective_on or "",
            "change_class": change_class or ""}  # fmt: skip
    plan, refused = _checked(request, signed_in, session, runtime, form, policy_file)
    if refused is not None:
        return refused
    assert plan is not None
    return _preview(request, signed_in, session, runtime, plan, form)


@router.post("/admin/policy/publish", response_class=HTMLResponse)
def publish(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, source: Field = None, effective_on: Field = None,
    change_class: Field = None, follows: Field = None, content_hash: Field = None,
) -> Response:  # fmt: skip
    """Step two: publish what the preview showed — unless another version was published
    since, or the file differs: then the preview again, against what is there now."""
    common.guard(signed_in, "policy:admin")
    form = {"source": source or "", "effective_on": effective_on or "",
            "change_class": change_class or ""}  # fmt: skip
    plan, refused = _checked(request, signed_in, session, runtime, form, None)
    if refused is not None:
        return refused
    assert plan is not None
    shown = str(plan.previous.seq if plan.previous else 0)
    if follows != shown or content_hash != plan.content_hash:
        return _preview(request, signed_in, session, runtime, plan, form, stale=True)
    actor = pages.actor_of(request, signed_in)
    published = notices.publish(
        session, source=plan.source, source_name="the submitted policy",
        effective_at=plan.effective_at if form["effective_on"] else None,
        requested_class=plan.change_class, clock=runtime.clock, actor=actor,
        site=runtime.settings.base_url,
    )  # fmt: skip
    if published.previous is not None:  # the first version has nobody to tell yet
        announce(session, comms.context(runtime), published.version, actor=actor)
    session.commit()
    runtime.book.load(session)
    return pages.redirect("/admin/policy?done=published")


@router.get("/admin/policy/versions/{seq}/withdraw", response_class=HTMLResponse)
def withdraw_page(
    request: Request, seq: Seq, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """What withdrawing the version would do — or why it cannot be withdrawn."""
    common.guard(signed_in, "policy:admin")
    try:
        found = withdrawal.impact(session, seq, clock=runtime.clock)
    except SafeholdError as exc:
        return common.page(
            request, signed_in, "console/policy_withdraw.html",
            {"version": notices.get(session, seq), "refusal": common.message(exc)},
            status_code=common.status_of(exc),
        )  # fmt: skip
    return common.page(request, signed_in, "console/policy_withdraw.html",
                       {"version": found.version, "impact": found})  # fmt: skip


@router.post("/admin/policy/versions/{seq}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request, seq: Seq, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.guard(signed_in, "policy:admin")
    try:
        withdrawal.withdraw(session, comms.context(runtime), seq,
                            actor=pages.actor_of(request, signed_in))  # fmt: skip
    except SafeholdError as exc:
        session.rollback()
        return common.page(
            request, signed_in, "console/policy_withdraw.html",
            {"version": notices.get(session, seq), "refusal": common.message(exc)},
            status_code=common.status_of(exc),
        )  # fmt: skip
    session.commit()
    runtime.book.load(session)
    return pages.redirect("/admin/policy?done=withdrawn")
