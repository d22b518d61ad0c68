"""Operations endpoints: liveness, readiness, Prometheus metrics.

All three are ``async``: ``/healthz`` never leaves the event loop, and the two that need
the database do so in threads of their own, bounded, so that a database that stops
answering (and the request threads waiting on it) cannot make them hang (review F10).
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from safehold.dbtimeouts import bounded
from safehold.handlers import error_body
from safehold.ops.service import Readiness, readiness
from safehold.runtime import Runtime

# /readyz answers within this many seconds: "not ready" when the database has not by then.
READINESS_TIMEOUT = 3.0
# Each statement of a scrape (the overdue-requests gauge) gets this long.
METRICS_STATEMENT_TIMEOUT = 2.0
# Threads for /readyz and /metrics, apart from the request handlers' pool.
OPS_THREADS = 4

router = APIRouter(tags=["operations"])


def _runtime(request: Request) -> Runtime:
    # Not RuntimeDep: it refreshes the policy book from the database, in a request thread.
    runtime: Runtime = request.app.state.runtime
    return runtime


def _threads(request: Request) -> anyio.CapacityLimiter:
    limiter = getattr(request.app.state, "ops_threads", None)
    if limiter is None:
        limiter = request.app.state.ops_threads = anyio.CapacityLimiter(OPS_THREADS)
    return limiter


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations current",
    responses={503: {"description": "Not ready; the error says why"}},
)
async def readyz(request: Request) -> Response:
    state = Readiness(False, False, f"the database did not answer within {READINESS_TIMEOUT:g} s")
    with bounded(READINESS_TIMEOUT), anyio.move_on_after(READINESS_TIMEOUT):
        state = await anyio.to_thread.run_sync(
            readiness, _runtime(request), limiter=_threads(request), abandon_on_cancel=True
        )
    checks = {"database": state.database, "migrations": state.migrations}
    if state.ready:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(error_body("not_ready", state.detail, {"checks": checks}), 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = _runtime(request).registry
    with bounded(METRICS_STATEMENT_TIMEOUT):
        body = await anyio.to_thread.run_sync(generate_latest, registry, limiter=_threads(request))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
