"""The console's promises page: the last `safehold promises` run (whichever process made it),
each promise held or violated with counts and example ids, and a button to check now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safehold.console import common
from safehold.deps import RuntimeDep, SessionDep
from safehold.promises import jobs, service
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep

router = APIRouter(include_in_schema=False)
SCOPE = "audit:read"  # the compliance view: the same staff who read the audit log


@router.get("/admin/promises", response_class=HTMLResponse)
def promises(request: Request, signed_in: StaffDep, session: SessionDep) -> HTMLResponse:
    common.guard(signed_in, SCOPE)
    last = service.latest(session)
    results = service.results_of(last) if last is not None else []
    return common.page(
        request, signed_in, "console/promises.html",
        {"last": last, "results": results, "checks": service.CHECKS,
         "done": request.query_params.get("done")},
    )  # fmt: skip


@router.post("/admin/promises", response_class=HTMLResponse)
def check_now(_csrf: CsrfDep, signed_in: StaffDep, runtime: RuntimeDep) -> Response:
    common.guard(signed_in, SCOPE)
    jobs.check_and_keep(runtime, trigger="console")
    return pages.redirect("/admin/promises?done=checked")
