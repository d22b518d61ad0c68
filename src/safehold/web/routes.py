"""Public pages: the home page, the policy in force, every published version and the
differences between any two (seed section 5: "Changes will be posted on our website")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from safehold.deps import RuntimeDep, SessionDep
from safehold.notices import rules as notice_rules
from safehold.notices import service as notices
from safehold.notices import textdiff
from safehold.notices.rules import MAX_VERSION
from safehold.policy import Policy, parse_policy
from safehold.policy.render import html_body
from safehold.policy.rules import content_hash
from safehold.runtime import Runtime
from safehold.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "home.html", {"policy": runtime.policy})


def _policy_page(
    request: Request, runtime: Runtime, shown: Policy, label: str | None
) -> HTMLResponse:
    body, toc = html_body(shown, site=runtime.settings.base_url)
    current = runtime.book.in_force(runtime.clock.now())
    return TEMPLATES.TemplateResponse(
        request,
        "policy.html",
        {
            "policy": runtime.policy,
            "shown": shown,
            "body": Markup(body),  # noqa: S704 — markdown-it output with raw HTML disabled
            "toc": toc,
            "content_hash": content_hash(shown),
            "label": label,
            "in_force": current.facts.seq if current else None,
        },
    )


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    current = runtime.book.in_force(runtime.clock.now())
    label = f"v{current.facts.seq}" if current else None
    return _policy_page(request, runtime, runtime.policy, label)


@router.get("/policy/versions", response_class=HTMLResponse)
def versions_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    current = runtime.book.in_force(runtime.clock.now())
    found = notices.versions(session)
    withdrawn = notices.withdrawals(session)
    return TEMPLATES.TemplateResponse(
        request,
        "versions.html",
        {
            "policy": runtime.policy,
            "versions": list(reversed(found)),
            "in_force": current.facts.seq if current else None,
            "withdrawn": withdrawn,
            "follows": notice_rules.follows([v.seq for v in found], set(withdrawn)),
        },
    )


@router.get("/policy/versions/{version}", response_class=HTMLResponse)
def version_page(
    request: Request, version: Annotated[int, Path(ge=1, le=MAX_VERSION)], runtime: RuntimeDep,
    session: SessionDep,
) -> HTMLResponse:  # fmt: skip
    row = notices.get(session, version)
    return _policy_page(request, runtime, parse_policy(row.source, row.label), row.label)


@router.get("/policy/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
    to: Annotated[int, Query(ge=1, le=MAX_VERSION)],
) -> HTMLResponse:
    compared = notices.compare(session, from_, to)
    old, new = notices.get(session, from_), notices.get(session, to)
    rows = textdiff.side_by_side(
        textdiff.readable(old.rendered_md), textdiff.readable(new.rendered_md)
    )
    return TEMPLATES.TemplateResponse(
        request, "diff.html",
        {"policy": runtime.policy, "diff": compared, "rows": rows, **textdiff.counts(rows)},
    )  # fmt: skip
