"""Pure ASGI middleware: request id, size limit, the card-data guard, access log and metrics
for every request."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping

import structlog
from anyio import to_thread
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safehold import carddata, textguard
from safehold.handlers import error_body
from safehold.logs import get_logger
from safehold.web import pages

log = get_logger("safehold.access")

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Bodies up to this size are scanned for card data on the event loop (a few hundred
# microseconds at most); larger ones in a worker thread, so no body stalls other requests.
SCAN_INLINE_BYTES = 65_536
Scanner = Callable[[bytes, str], carddata.Finding | None]
# The method label's values: HTTP servers accept any token as a method, and one label value
# per token would grow /metrics without limit (each adds a counter and a histogram).
METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "safehold_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "safehold_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=registry,
        )


def _request_id(scope: Scope) -> str:
    """Accept a caller's request id if it is a plain token that holds no card number: it
    is echoed, written on every log line and stored in audit entries."""
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate) and not carddata.contains_card_number(candidate):
                return candidate
    return uuid.uuid4().hex


def _bearer(scope: Scope) -> bool:
    """An ``Authorization: Bearer`` header is present (not yet checked: the app does that)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bool(value[:7].lower() == b"bearer ")
    return False


def method_label(method: str) -> str:
    """The request's method as a metrics label: one of :data:`METHOD_LABELS`, or ``other``."""
    return method if method in METHOD_LABELS else OTHER_METHOD


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    # path_format: the template without its convertors ("/v1/keys/{key_id}", not ":key_id")
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContext:
    """Wraps the app: binds a request id to every log line, limits the body size, refuses
    card data in the query string and the body before any handler runs, and records one
    access-log line and the metrics per request — route templates only, never the raw
    path's query string or the body."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, metrics: HttpMetrics,
        body_limits: Mapping[str, int] | None = None, scan: Scanner = carddata.scan,
    ) -> None:  # fmt: skip
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        # Exact paths with their own, larger limit (event batches), for requests that carry
        # an API key: an anonymous client gets the default limit whatever the path.
        self.body_limits = dict(body_limits or {})
        self.scan = scan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            body, refusal = await self._guard(scope, receive)
            error = refusal[1]["error"] if refusal is not None else None
            if isinstance(error, dict) and error["code"] == CONTROL and _is_page(scope):
                assert refusal is not None  # a page's form field: answered with a page
                page = pages.error_page(
                    Request(scope), refusal[0], str(error["code"]), str(error["message"])
                )
                await page(scope, receive, send_with_id)
            elif refusal is not None:
                await _send_error(send_with_id, *refusal)
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = method_label(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            log.info(
                "http_request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    def _limit(self, scope: Scope) -> int:
        if not _bearer(scope):
            return self.max_body
        return self.body_limits.get(scope.get("path", ""), self.max_body)

    async def _guard(
        self, scope: Scope, receive: Receive
    ) -> tuple[bytes, tuple[int, dict[str, object]] | None]:
        """The body, or why the request is refused before the app sees it: too large, a
        card or a control character in the query string, JSON that is not UTF-8, a card or
        a control character in the body, or JSON nested too deep to read."""
        query = scope.get("query_string", b"")
        finding = carddata.scan_query(query)
        if finding is not None:
            return b"", _card_data_refused(finding)
        control = textguard.scan_query(query)
        if control is not None:
            return b"", _control_refused(control)
        limit = self._limit(scope)
        body = await self._read_body(scope, receive, limit)
        if body is None:
            return b"", (413, _too_large_body(limit))
        content_type = _content_type(scope)
        if body and carddata.is_json(content_type) and not carddata.utf8_json(body):
            return b"", (415, _NOT_UTF8)
        route = scope.get("path", "")
        try:
            if len(body) <= SCAN_INLINE_BYTES:
                finding = self.scan(body, content_type)
                control = textguard.scan(body, content_type, route)
            else:
                finding = await to_thread.run_sync(self.scan, body, content_type)
                control = await to_thread.run_sync(textguard.scan, body, content_type, route)
        except carddata.BodyTooDeep:
            return b"", (422, _TOO_DEEP)
        if finding is not None:
            return b"", _card_data_refused(finding)
        return body, None if control is None else _control_refused(control)

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None once it passes the limit (declared or actual)."""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _is_page(scope: Scope) -> bool:
    path = scope.get("path", "")
    return any(path == p or path.startswith(p + "/") for p in pages.PAGE_PREFIXES)


def _too_large_body(limit: int) -> dict[str, object]:
    return error_body(
        "request_too_large",
        f"the request body is larger than {limit} bytes",
        {"max_bytes": limit},
    )


def _card_data_refused(finding: carddata.Finding) -> tuple[int, dict[str, object]]:
    log.warning("card_data_refused", location=finding.location, kind=finding.kind)
    what = (
        "a field for card numbers or security codes"
        if finding.kind == "field_name"
        else "a card number"
    )
    return 422, error_body(
        "card_data_refused",
        f"the request contains {what}; Safehold stores only the payment processor's token, "
        "the card brand, the last 4 digits and the expiry",
        {"location": finding.location},
    )


CONTROL = "control_character_refused"


def _control_refused(finding: textguard.Finding) -> tuple[int, dict[str, object]]:
    return 422, error_body(
        CONTROL,
        "a text field holds a control character (such as a line break, a tab or NUL); "
        "only a message's text and HTML and a policy's source may hold line breaks and tabs",
        {"location": finding.location},
    )


_NOT_UTF8 = error_body(
    "body_not_utf8",
    "a JSON body must be UTF-8 text (RFC 8259): not UTF-16 or UTF-32, and no NUL bytes",
)
_TOO_DEEP = error_body(
    "body_too_deep",
    f"the JSON body is nested more than {carddata.MAX_DEPTH} levels deep",
    {"max_depth": carddata.MAX_DEPTH},
)


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type: str = value.decode("latin-1").lower()
            return content_type
    return ""


async def _send_error(send: Send, status: int, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, upstream: Receive) -> Receive:
    """Hand the buffered body to the app, then pass through (a disconnect, for streaming)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive
