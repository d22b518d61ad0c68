"""A typed Python client for Safehold's HTTP API, built on httpx.

Usage events are the point: :meth:`Client.track` queues events and sends them in batches;
every event gets its id (a UUIDv7) when it is created, so a batch sent again after a
timeout, a dropped connection or a server restart is stored once — the server answers
``duplicate`` for what it already has. Sending retries with exponential backoff and full
jitter on connection errors and on 429/500/502/503/504 (honouring ``Retry-After``), and
splits a batch the server finds too large (413 ``batch_too_large``).

    with Client("http://127.0.0.1:8000", api_key) as safehold:
        ada = safehold.register_subject(name="Ada Quillfeather", email="ada@example.com")
        safehold.track("channel.play", subject_id=ada, properties={"channel_id": "news-1"},
                       context=Context(user_agent=ua, ip="203.0.113.7"))
        safehold.flush()
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import httpx
import uuid6

from safehold.carddata import contains_card_number

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Status = Literal["accepted", "duplicate", "rejected"]


def new_event_id() -> uuid.UUID:
    """A time-ordered UUIDv7 (RFC 9562): the event's identity for every retry.

    Safehold refuses any request holding a digit run that passes for a card number, and
    about 0.6% of UUIDv7 strings contain one (e.g. "…a21910-9929-7123-8…"); such ids are
    drawn again, so a batch is never refused for its ids."""
    while True:
        event_id = uuid.UUID(bytes=uuid6.uuid7().bytes)
        if not contains_card_number(str(event_id)):
            return event_id


@dataclass(frozen=True)
class Context:
    """Where an event came from. The server keeps coarse device fields only, and the address
    only as its policy says (shortened, or not at all)."""

    user_agent: str | None = None
    ip: str | None = None
    client_hints: Mapping[str, str] | None = None  # header name -> value, as received

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.user_agent is not None:
            out["user_agent"] = self.user_agent
        if self.ip is not None:
            out["ip"] = self.ip
        if self.client_hints:
            out["client_hints"] = dict(self.client_hints)
        return out


@dataclass(frozen=True)
class Event:
    name: str
    subject_id: uuid.UUID | None = None
    anonymous_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None  # the device's clock; default: when created
    context: Context | None = None
    event_id: uuid.UUID = field(default_factory=new_event_id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_id": str(self.event_id), "name": self.name}
        if self.subject_id is not None:
            out["subject_id"] = str(self.subject_id)
        if self.anonymous_id is not None:
            out["anonymous_id"] = self.anonymous_id
        if self.properties:
            out["properties"] = dict(self.properties)
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp.isoformat()
        if self.context is not None:
            out["context"] = self.context.to_json()
        return out


@dataclass(frozen=True)
class EventResult:
    index: int
    event_id: uuid.UUID | None
    status: Status
    reason: str | None = None
    message: str | None = None
    details: Mapping[str, Any] | None = None

    @property
    def stored(self) -> bool:
        """Accepted now or before: either way the server holds it exactly once."""
        return self.status in ("accepted", "duplicate")


@dataclass(frozen=True)
class BatchResult:
    results: tuple[EventResult, ...]

    @property
    def accepted(self) -> int:
        return sum(r.status == "accepted" for r in self.results)

    @property
    def duplicates(self) -> int:
        return sum(r.status == "duplicate" for r in self.results)

    @property
    def rejected(self) -> tuple[EventResult, ...]:
        return tuple(r for r in self.results if r.status == "rejected")


class SafeholdAPIError(Exception):
    """An error answer: ``status``, the stable ``code``, a message without submitted values."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = dict(details or {})


class SafeholdUnavailable(Exception):
    """Every attempt failed (connection errors or 429/5xx); the events were not confirmed."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 8  # tries in all
    base: float = 0.2  # seconds before the second try; doubles each time
    cap: float = 10.0  # the longest pause


class Client:
    """One connection pool to one Safehold. Safe to share between threads."""

    def __init__(
        self, base_url: str, api_key: str, *, batch_size: int = 500, retry: Retry = Retry(),
        timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] | None = None,
    ) -> None:  # fmt: skip
        self.batch_size = batch_size
        self.retry = retry
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC))
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self._queue: list[Event] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if exc_type is None:
            self.flush()
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- events -------------------------------------------------------------------------

    def track(
        self, name: str, *, subject_id: uuid.UUID | None = None, anonymous_id: str | None = None,
        properties: Mapping[str, Any] | None = None, timestamp: datetime | None = None,
        context: Context | None = None, event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:  # fmt: skip
        """Queue one event (sent when the batch is full, or at :meth:`flush`); its id."""
        event = Event(
            name=name,
            subject_id=subject_id,
            anonymous_id=anonymous_id,
            properties=properties or {},
            timestamp=timestamp or self._now(),
            context=context,
            event_id=event_id or new_event_id(),
        )
        with self._lock:
            self._queue.append(event)
            full = self._take() if len(self._queue) >= self.batch_size else None
        if full:
            self.send(full)
        return event.event_id

    def _take(self) -> list[Event]:
        batch, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size :]
        return batch

    def flush(self) -> list[BatchResult]:
        """Send everything queued, a batch at a time."""
        results: list[BatchResult] = []
        while True:
            with self._lock:
                batch = self._take()
            if not batch:
                return results
            results.append(self.send(batch))

    def send(self, events: Sequence[Event], *, context: Context | None = None) -> BatchResult:
        """Send one batch now, retrying until the server confirms it; a batch the server
        finds too large is sent in halves."""
        if not events:
            return BatchResult(())
        try:
            answer = self._post_batch(events, context)
        except SafeholdAPIError as exc:
            if exc.code != "batch_too_large" or len(events) == 1:
                raise
            half = len(events) // 2
            first = self.send(events[:half], context=context)
            second = self.send(events[half:], context=context)
            shifted = tuple(
                EventResult(r.index + half, r.event_id, r.status, r.reason, r.message, r.details)
                for r in second.results
            )
            return BatchResult(first.results + shifted)
        return BatchResult(tuple(_result(item) for item in answer["results"]))

    def _post_batch(self, events: Sequence[Event], context: Context | None) -> dict[str, Any]:
        def body() -> dict[str, Any]:  # sent_at is the clock at each attempt
            out: dict[str, Any] = {
                "sent_at": self._now().isoformat(),
                "events": [e.to_json() for e in events],
            }
            if context is not None:
                out["context"] = context.to_json()
            return out

        return self._request("POST", "/v1/events", json_body=body)

    # --- people -------------------------------------------------------------------------

    def register_subject(
        self, *, name: str, email: str, phone: str | None = None,
        address: Mapping[str, str] | None = None, marketing_opt_in: bool = False,
    ) -> uuid.UUID:  # fmt: skip
        """Register a person; their id. (Registration is not idempotent: a retry after a
        lost answer meets 409 ``email_taken``, and the person exists.)"""
        payload: dict[str, Any] = {"name": name, "email": email,
                                   "marketing_opt_in": marketing_opt_in}  # fmt: skip
        if phone is not None:
            payload["phone"] = phone
        if address is not None:
            payload["address"] = dict(address)
        answer = self._request("POST", "/v1/subjects", json_body=lambda: payload)
        return uuid.UUID(answer["id"])

    def logins(self, subject_id: uuid.UUID, *, purpose: str, limit: int = 100) -> dict[str, Any]:
        """The person's login history, for a purpose the key and the policy allow."""
        params = {"purpose": purpose, "limit": limit}
        return self._request("GET", f"/v1/subjects/{subject_id}/logins", params=params)

    def devices(self, subject_id: uuid.UUID, *, purpose: str) -> dict[str, Any]:
        params = {"purpose": purpose}
        return self._request("GET", f"/v1/subjects/{subject_id}/devices", params=params)

    # --- transport ----------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, json_body: Callable[[], Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        last: str = "no attempt made"
        retry_after: float | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                self._sleep(self._pause(attempt, retry_after))
            retry_after = None
            try:
                response = self._http.request(
                    method, path, json=json_body() if json_body else None, params=params
                )
            except httpx.TransportError as exc:
                last = type(exc).__name__
                continue
            if response.status_code in RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
                continue
            if response.is_error:
                raise _api_error(response)
            answer: dict[str, Any] = response.json()
            return answer
        raise SafeholdUnavailable(
            f"{method} {path} failed {self.retry.attempts} times (last: {last})"
        )

    def _pause(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; the server's Retry-After when it says."""
        if retry_after is not None:
            return min(retry_after, self.retry.cap)
        ceiling = min(self.retry.cap, self.retry.base * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _api_error(response: httpx.Response) -> SafeholdAPIError:
    try:
        error = response.json()["error"]
        return SafeholdAPIError(
            response.status_code, error["code"], error["message"], error.get("details")
        )
    except (ValueError, KeyError, TypeError):
        return SafeholdAPIError(response.status_code, "http_error", response.reason_phrase)


def _result(item: Mapping[str, Any]) -> EventResult:
    event_id = item.get("event_id")
    return EventResult(
        index=int(item["index"]),
        event_id=uuid.UUID(event_id) if event_id else None,
        status=item["status"],
        reason=item.get("reason"),
        message=item.get("message"),
        details=item.get("details"),
    )
