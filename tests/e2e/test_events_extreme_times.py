"""Device clocks at the ends of time: one event whose timestamp, corrected by the batch's
``sent_at``, lies beyond what a datetime can hold is refused with its reason, and the other
99 events of its batch are stored (review F11: it used to be a 500 for the whole batch,
which the client retried until it gave up)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safehold.client import Client, Event, Retry, new_event_id
from safehold.config import Settings
from safehold.events import storage
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.conftest import DEFAULT_POLICY, FROZEN_AT
from tests.deployment import usable_person
from tests.e2e.conftest import MakeKey, bearer

VALID = 99
FIRST = "0001-01-01T00:00:00+00:00"
LAST = "9999-12-31T23:59:59.999999+00:00"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, policy=DEFAULT_POLICY)


@pytest.fixture
def sender(make_key: MakeKey) -> str:
    return make_key(["events:write"], name="iptv-backend")


@pytest.fixture
def viewer(runtime: Runtime) -> uuid.UUID:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    with runtime.sessions() as session:
        sid = usable_person(session, ctx, "Ada Quillfeather", "ada")
        session.commit()
        return sid


def stored(runtime: Runtime, subject: uuid.UUID) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).select_from(storage.EVENTS)
        return int(session.scalar(query.where(storage.EVENTS.c.subject_id == subject)) or 0)


def event(subject: uuid.UUID, timestamp: str) -> dict[str, Any]:
    return {"event_id": str(new_event_id()), "subject_id": str(subject), "name": "channel.play",
            "timestamp": timestamp, "properties": {"channel_id": "news-1"}}  # fmt: skip


@pytest.mark.parametrize(
    ("sent_at", "extreme", "reason"),
    [
        ("9999-12-31T23:59:00+00:00", FIRST, "timestamp_too_old"),  # the review's case
        ("0001-01-01T00:10:00+00:00", LAST, "timestamp_in_future"),  # and the reverse
        (None, "0001-01-01T00:00:00+14:00", "invalid_event"),  # no UTC time for it
    ],
)
def test_one_extreme_time_refuses_that_event_alone(
    client: TestClient, runtime: Runtime, sender: str, viewer: uuid.UUID,
    sent_at: str | None, extreme: str, reason: str,
) -> None:  # fmt: skip
    device_now = datetime.fromisoformat(sent_at) if sent_at else FROZEN_AT
    valid = (device_now - timedelta(minutes=3)).isoformat()  # 3 minutes ago, on its clock
    events = [event(viewer, valid) for _ in range(VALID)]
    events.insert(40, event(viewer, extreme))
    body: dict[str, Any] = {"events": events}
    if sent_at:
        body["sent_at"] = sent_at
    answer = client.post("/v1/events", json=body, headers=bearer(sender))
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert (data["accepted"], data["rejected"]) == (VALID, 1)
    refused = data["results"][40]
    assert (refused["status"], refused["reason"]) == ("rejected", reason)
    assert extreme not in answer.text
    assert stored(runtime, viewer) == VALID


class ThroughApp(httpx.BaseTransport):
    """The client's requests, answered by the app in this process."""

    def __init__(self, app: TestClient) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.app.request(
            request.method, request.url.raw_path.decode(), content=request.read(),
            headers=dict(request.headers),
        )  # fmt: skip
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def test_the_client_sending_datetime_max_gets_one_refusal_not_an_error(
    client: TestClient, runtime: Runtime, sender: str, viewer: uuid.UUID
) -> None:
    sent = FROZEN_AT - timedelta(seconds=1)  # the batch arrives a second after it left
    sdk = Client("http://testserver", sender, transport=ThroughApp(client),
                 retry=Retry(attempts=2, base=0.01, cap=0.01), now=lambda: sent)  # fmt: skip
    late = datetime.max.replace(tzinfo=UTC)
    batch = [Event("channel.play", subject_id=viewer, properties={"channel_id": "news-1"},
                   timestamp=FROZEN_AT - timedelta(minutes=1)) for _ in range(VALID)]  # fmt: skip
    batch.append(Event("channel.play", subject_id=viewer, timestamp=late,
                       properties={"channel_id": "news-1"}))  # fmt: skip
    with sdk:
        result = sdk.send(batch)
    statuses = [r.status for r in result.results]
    assert statuses == ["accepted"] * VALID + ["rejected"]
    assert result.results[-1].reason == "timestamp_in_future"
    assert stored(runtime, viewer) == VALID
