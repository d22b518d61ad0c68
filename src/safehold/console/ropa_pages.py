"""The record of processing activities (GDPR Art. 30) in the console: the same record as
``GET /v1/ropa`` and ``safehold ropa`` (scope ``ropa:read``), read through the same audited
use case, shown as a page, and downloadable as Markdown or JSON."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from safehold.console import common
from safehold.deps import RuntimeDep, SessionDep
from safehold.sharing import ropa, ropa_read
from safehold.web import pages
from safehold.web.pages import StaffDep

router = APIRouter(include_in_schema=False)
SCOPE = "ropa:read"


class Format(StrEnum):
    page = "page"
    md = "md"
    json = "json"


@router.get("/admin/ropa", response_class=HTMLResponse)
def ropa_page(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep,
    format: Format = Format.page, verify: bool = False,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    document = ropa_read.read(
        session, policy=runtime.policy, vault=runtime.vault, clock=runtime.clock,
        webhooks=runtime.settings.webhooks, actor=pages.actor_of(request, signed_in),
        verify_audit=verify,
    )  # fmt: skip
    session.commit()  # the read's audit entry
    stamp = f"{document.generated_at:%Y-%m-%d}"
    if format is Format.md:
        return PlainTextResponse(
            ropa.render_markdown(document), media_type="text/markdown; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="ropa-{stamp}.md"'},
        )  # fmt: skip
    if format is Format.json:
        return Response(
            document.model_dump_json(indent=2), media_type="application/json",
            headers={"content-disposition": f'attachment; filename="ropa-{stamp}.json"'},
        )  # fmt: skip
    return common.page(
        request, signed_in, "console/ropa.html",
        {"body": ropa.body_html(document), "verified": verify},
    )  # fmt: skip
