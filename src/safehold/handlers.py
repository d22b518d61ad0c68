"""The one place where errors become HTTP: ``{"error": {"code", "message", "details"}}``.

Validation errors list the fields and what is wrong with them, never the submitted values;
unexpected errors are logged with their traceback and answered with a bare 500.
"""

from __future__ import annotations

import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safehold import errors
from safehold.logs import get_logger
from safehold.web import pages
from safehold.web.errors import SignInRequired

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
    errors.RateLimited: 429,
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


def _headers(exc: errors.SafeholdError) -> dict[str, str] | None:
    if isinstance(exc, errors.Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return None


def status_for(exc: errors.SafeholdError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SafeholdError)
    headers = _headers(exc)
    if pages.is_page(request):
        return pages.error_page(
            request, status_for(exc), exc.code, exc.message, headers, details=exc.details
        )
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_for(exc), headers=headers
    )


async def _validation(request: Request, exc: Exception) -> Response:
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
    if pages.is_page(request):
        return pages.error_page(request, 422, "validation_failed", message)
    return JSONResponse(error_body("validation_failed", message, {"fields": fields}), 422)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:  # RFC 9110: Allow lists every method of the resource
        headers["Allow"] = _allowed_methods(request)
    if pages.is_page(request):
        page = pages.error_page(request, exc.status_code, code, message)
        page.headers.update(headers)
        return page
    return JSONResponse(error_body(code, message), exc.status_code, headers=headers or None)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's own 405 names only the first
    route that matched the path, though GET and POST of one path are often two routes. Each
    method is tried against the router (its public ``matches``), whatever its nesting."""
    routes = request.app.router.routes
    allowed = [
        method for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]  # fmt: skip
    return ", ".join(allowed)


DATABASE_RETRY_AFTER = 5  # seconds: a restart or a failover usually takes about that
SQLITE_FULL = 13  # SQLite's result code for "database or disk is full"


async def _database(request: Request, exc: Exception) -> Response:
    """The database did not answer (restarting, unreachable, busy) or has no space left: a
    clear answer the client can retry, instead of a bare 500. Nothing was confirmed. Also
    when every pooled connection stayed busy for ``SAFEHOLD_DB_POOL_TIMEOUT``."""
    assert isinstance(exc, DBAPIError | PoolTimeout)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    full = getattr(orig, "sqlite_errorcode", None) == SQLITE_FULL
    # The driver's class and result code only: its message may quote SQL parameters.
    reason = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    log.error(
        "database_unavailable", error_type=type(orig).__name__, error_code=reason,
        storage_full=full,
    )  # fmt: skip
    if full:
        status, code = 507, "storage_full"
        message = "the database has no space left; nothing was written"
    else:
        status, code = 503, "database_unavailable"
        message = "the database is not available right now; nothing was confirmed, try again"
    if pages.is_page(request):
        return pages.error_page(request, status, code, message)
    return JSONResponse(
        error_body(code, message, {"retry_after": DATABASE_RETRY_AFTER}), status,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )  # fmt: skip


async def _unstorable(request: Request, exc: Exception) -> Response:
    """The database refused a submitted value: a NUL character in text (PostgreSQL cannot
    store U+0000) or a number past its column. The request's fault, so 422, not a 500."""
    assert isinstance(exc, DataError)
    log.warning("value_refused_by_database", error_type=type(exc.orig).__name__)
    code = "invalid_value"
    message = (
        "a submitted value cannot be stored: it is out of range or contains a character "
        "the database does not accept (such as U+0000); nothing was written"
    )
    if pages.is_page(request):
        return pages.error_page(request, 422, code, message)
    return JSONResponse(error_body(code, message), 422)


def _log_unhandled(exc: BaseException) -> None:
    # The frames only: an exception's message may quote SQL parameters or submitted values.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled_error", error_type=type(exc).__name__, frames=frames)


def _internal_error() -> JSONResponse:
    return JSONResponse(
        error_body("internal_error", "an unexpected error occurred; it has been logged"), 500
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's ServerErrorMiddleware answers with this, then re-raises to the server,
    which logs the exception with its message: only for errors raised outside
    :class:`UnhandledErrors` (in the outer middleware); ``logs`` strips that message."""
    _log_unhandled(exc)
    return _internal_error()


class UnhandledErrors:
    """Pure ASGI middleware, inside Starlette's ServerErrorMiddleware: an exception no
    handler took is logged with its frames only and answered with the bare 500 here, and
    goes no further. ServerErrorMiddleware would re-raise it to uvicorn, which logs it with
    its message (review F12) and closes the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            _log_unhandled(exc)
            if not started:  # otherwise the answer is cut short, which the client sees
                await _internal_error()(scope, receive, send)


async def _sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return pages.redirect(exc.to)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(errors.SafeholdError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OperationalError, _database)  # down, restarting, busy, full
    app.add_exception_handler(DataError, _unstorable)  # NUL in text, numbers out of range
    app.add_exception_handler(InterfaceError, _database)  # a connection that went away
    app.add_exception_handler(PoolTimeout, _database)  # no pooled connection came free in time
    app.add_exception_handler(Exception, _unexpected)


# --- the errors in the OpenAPI document -----------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """The one error shape, whatever the status."""

    error: ErrorDetail


# status -> (description, only on routes that take an API key)
ERROR_RESPONSES: dict[int, tuple[str, bool]] = {
    400: ("The body cannot be read at all (`bad_request`)", False),
    401: ("No API key, or one that is not valid or is revoked (`invalid_api_key`)", True),
    403: ("The key lacks the scope or the purpose, or the policy refuses (the rule)", True),
    404: ("Something the request names does not exist", False),
    409: ("The request conflicts with the current state of what it names", False),
    410: ("The person or the data was erased", False),
    413: ("The body is larger than the limit (`request_too_large`)", False),
    415: ("A JSON body that is not UTF-8 (`body_not_utf8`, RFC 8259)", False),
    422: (
        "The request is not valid (`validation_failed`, `card_data_refused`, `body_too_deep`, …)",
        False,
    ),
    500: ("Safehold's own fault (`internal_error`); the server log has the details", False),
    503: (
        "The database is not available (`database_unavailable`); retry after `Retry-After`",
        False,
    ),
    507: ("The database has no space left (`storage_full`); nothing was written", False),
}
_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def document_errors(app: FastAPI) -> None:
    """Declare in ``/openapi.json`` the errors every operation can answer with, in the one
    error shape, so that a client (and the fuzzer, tests/fuzz) knows each status an endpoint
    may return. Statuses a route declares itself (``responses=``) keep their description
    and get the shape; 401/403 only where the route takes a key; 400 and 415 where it takes a
    body;
    404/409/410 on every `/v1` operation and every path with a parameter, since most name a
    person, a request or a record that may be gone; 503/507 everywhere (the database). Under
    the pages' prefixes errors are pages (text/html)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare_errors(build())
        return build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension


def _declare_errors(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    model = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(model.pop("$defs", {}))
    components["ErrorOut"] = model
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, (description, keyed) in ERROR_RESPONSES.items():
                if keyed and not operation.get("security"):
                    continue
                if status in {404, 409, 410} and not (path.startswith("/v1/") or "{" in path):
                    continue
                if status in {400, 415} and "requestBody" not in operation:
                    continue
                responses.setdefault(str(status), {"description": description})
            page = any(path == p or path.startswith(p + "/") for p in pages.PAGE_PREFIXES)
            shape = {"text/html": {"schema": {"type": "string"}}} if page else _JSON_ERROR
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = shape
