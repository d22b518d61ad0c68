from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from safehold.deps import RuntimeDep
from safehold.handlers import error_body
from safehold.ops.service import readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations current",
    responses={503: {"description": "Not ready; the error says why"}},
)
def readyz(runtime: RuntimeDep) -> Response:
    state = readiness(runtime)
    checks = {"database": state.database, "migrations": state.migrations}
    if state.ready:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(error_body("not_ready", state.detail, {"checks": checks}), 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
