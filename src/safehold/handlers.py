"""The one place where errors become HTTP: ``{"error": {"code", "message", "details"}}``.

Validation errors list the fields and what is wrong with them, never the submitted values;
unexpected errors are logged with their traceback and answered with a bare 500.
"""

from __future__ import annotations

import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from safehold import errors
from safehold.logs import get_logger

log = get_logger(__name__)

STATUS: dict[type[errors.SafeholdError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.PayloadTooLarge: 413,
    errors.Gone: 410,
    errors.ServerFault: 500,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    410: "gone",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def status_for(exc: errors.SafeholdError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SafeholdError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, errors.Unauthenticated) else None
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_for(exc), headers=headers
    )


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "location": ".".join(str(part) for part in err.get("loc", ())),
            "problem": err.get("msg", "invalid"),
            "type": err.get("type", "value_error"),
        }
        for err in exc.errors()
    ]
    message = "the request is not valid: " + "; ".join(
        f"{f['location']}: {f['problem']}" for f in fields[:3]
    )
    return JSONResponse(error_body("validation_failed", message, {"fields": fields}), 422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        error_body(code, message), exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # The frames only: an exception's message may quote SQL parameters or submitted values.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled_error", error_type=type(exc).__name__, frames=frames)
    return JSONResponse(
        error_body("internal_error", "an unexpected error occurred; it has been logged"), 500
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.SafeholdError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
