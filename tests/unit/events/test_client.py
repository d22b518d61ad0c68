"""The Python client against a fake Safehold (an httpx transport that answers like the
server): batching, retries with backoff, stable event ids, splitting on 413."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from safehold.client import (
    Client,
    Context,
    Event,
    Retry,
    SafeholdAPIError,
    SafeholdUnavailable,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeSafehold:
    """Stores events by id like the server, and misbehaves as scripted first."""

    def __init__(self, script: list[str] | None = None, max_batch: int = 1000) -> None:
        self.script = list(script or [])
        self.max_batch = max_batch
        self.stored: dict[str, dict[str, Any]] = {}
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer shk_test"
        step = self.script.pop(0) if self.script else "ok"
        if step == "drop":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "commit-then-drop":  # the server committed, the answer was lost
            self._store(json.loads(request.content))
            raise httpx.ReadError("connection reset", request=request)
        if step in ("503", "429"):
            return httpx.Response(int(step), headers={"Retry-After": "3"} if step == "429" else {})
        if request.url.path == "/v1/subjects":
            return httpx.Response(201, json={"id": str(uuid.uuid4())})
        body = json.loads(request.content)
        self.bodies.append(body)
        if len(body["events"]) > self.max_batch:
            error = {"code": "batch_too_large", "message": "too many", "details": {}}
            return httpx.Response(413, json={"error": error})
        return httpx.Response(202, json=self._store(body))

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        for index, event in enumerate(body["events"]):
            seen = event["event_id"] in self.stored
            self.stored.setdefault(event["event_id"], event)
            status = "duplicate" if seen else "accepted"
            results.append({"index": index, "event_id": event["event_id"], "status": status})
        return {"results": results}


def client_for(fake: FakeSafehold, sleeps: list[float], **kwargs: Any) -> Client:
    return Client(
        "http://safehold.example.com",
        "shk_test",
        transport=httpx.MockTransport(fake),
        sleep=sleeps.append,
        now=lambda: T0,
        **kwargs,
    )


def test_events_are_sent_in_batches_when_full_and_at_flush() -> None:
    fake, sleeps = FakeSafehold(), []
    with client_for(fake, sleeps, batch_size=3) as client:
        ids = [client.track("channel.play", subject_id=uuid.uuid4()) for _ in range(7)]
        assert len(fake.bodies) == 2  # two full batches went out by themselves
    assert [len(b["events"]) for b in fake.bodies] == [3, 3, 1]  # the rest at exit
    assert set(fake.stored) == {str(i) for i in ids}
    assert all(i.version == 7 for i in ids)


def test_a_retry_reuses_the_event_ids_so_nothing_is_stored_twice() -> None:
    fake, sleeps = FakeSafehold(["commit-then-drop", "drop", "503"]), []
    client = client_for(fake, sleeps)
    events = [Event("channel.play", subject_id=uuid.uuid4()) for _ in range(4)]
    result = client.send(events)
    assert len(fake.stored) == 4
    assert result.duplicates == 4  # the lost first answer had stored them
    assert all(r.stored for r in result.results)
    assert len(sleeps) == 3


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    fake, sleeps = FakeSafehold(["drop", "drop", "drop", "429"]), []
    client = client_for(fake, sleeps, retry=Retry(attempts=6, base=0.5, cap=10))
    client.send([Event("app.open")])
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0
    assert 0 <= sleeps[2] <= 2.0
    assert sleeps[3] == 3.0  # Retry-After


def test_sent_at_is_stamped_at_each_attempt() -> None:
    times = iter([T0, T0 + timedelta(seconds=5)])
    fake = FakeSafehold(["503"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["sent_at"])
        return fake(request)

    client = Client("http://x.example.com", "shk_test", transport=httpx.MockTransport(handler),
                    sleep=lambda _s: None, now=lambda: next(times))  # fmt: skip
    client.send([Event("app.open", timestamp=T0)])
    assert seen == [T0.isoformat(), (T0 + timedelta(seconds=5)).isoformat()]


def test_giving_up_says_so() -> None:
    fake, sleeps = FakeSafehold(["drop"] * 3), []
    client = client_for(fake, sleeps, retry=Retry(attempts=3))
    with pytest.raises(SafeholdUnavailable, match="3 times"):
        client.send([Event("app.open")])
    assert fake.stored == {}


def test_a_batch_too_large_is_split() -> None:
    fake, sleeps = FakeSafehold(max_batch=2), []
    client = client_for(fake, sleeps)
    events = [Event("app.open") for _ in range(5)]
    result = client.send(events)
    assert [r.index for r in result.results] == [0, 1, 2, 3, 4]
    assert [r.event_id for r in result.results] == [e.event_id for e in events]
    assert len(fake.stored) == 5


def test_client_errors_are_raised_with_their_code() -> None:
    def refuse(_request: httpx.Request) -> httpx.Response:
        error = {"code": "missing_scope", "message": "lacks events:write", "details": {}}
        return httpx.Response(403, json={"error": error})

    client = Client("http://x.example.com", "shk_test", transport=httpx.MockTransport(refuse))
    with pytest.raises(SafeholdAPIError) as caught:
        client.send([Event("app.open")])
    assert (caught.value.status, caught.value.code) == (403, "missing_scope")


def test_events_serialise_as_the_api_expects() -> None:
    sid = uuid.uuid4()
    event = Event("guide.search", subject_id=sid, properties={"results": 2}, timestamp=T0,
                  context=Context(user_agent="Roku/DVP-12.0", ip="203.0.113.4",
                                  client_hints={"Sec-CH-UA-Mobile": "?0"}))  # fmt: skip
    assert event.to_json() == {
        "event_id": str(event.event_id),
        "name": "guide.search",
        "subject_id": str(sid),
        "properties": {"results": 2},
        "timestamp": T0.isoformat(),
        "context": {"user_agent": "Roku/DVP-12.0", "ip": "203.0.113.4",
                    "client_hints": {"Sec-CH-UA-Mobile": "?0"}},
    }  # fmt: skip


def test_registration_returns_the_new_id() -> None:
    fake, sleeps = FakeSafehold(), []
    client = client_for(fake, sleeps)
    assert isinstance(client.register_subject(name="Ada", email="ada@example.com"), uuid.UUID)
