"""Public pages: the home page and the policy in force."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from safehold.deps import RuntimeDep
from safehold.policy.render import html_body
from safehold.policy.rules import content_hash
from safehold.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "home.html", {"policy": runtime.policy})


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    body, toc = html_body(runtime.policy)
    return TEMPLATES.TemplateResponse(
        request,
        "policy.html",
        {
            "policy": runtime.policy,
            "body": Markup(body),  # noqa: S704 — markdown-it output with raw HTML disabled
            "toc": toc,
            "content_hash": content_hash(runtime.policy),
        },
    )
