"""Usage events through the HTTP API: POST /v1/events and the purpose-bound reads of what
it recorded (logins, devices, events)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safehold.carddata import contains_card_number
from safehold.client import new_event_id
from safehold.config import Settings
from safehold.events import storage
from safehold.events.schemas import BatchOut, EventIn
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MAX_BATCH = 50
TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        policy=DEFAULT_POLICY,
        max_request_bytes=64 * 1024,
        events_max_batch=MAX_BATCH,
        events_max_request_bytes=256 * 1024,
    )


@pytest.fixture
def sender(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(["events:write"], name="iptv-backend"))


@pytest.fixture
def reader(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(["subjects:read"], ["service_provision"], name="support"))


@pytest.fixture
def viewer(client: TestClient, make_key: MakeKey) -> str:
    crm = bearer(make_key(["subjects:write"], ["service_provision"], name="crm"))
    while True:  # ids the card-number check would refuse cannot be used (docs/events.md)
        answer = client.post(
            "/v1/subjects",
            json={
                "name": "Ada Quillfeather",
                "email": f"ada.{uuid.uuid4().hex[:8]}@example.com",
                "marketing_opt_in": False,
            },
            headers=crm,
        )
        assert answer.status_code == 201, answer.text
        if not contains_card_number(answer.json()["id"]):
            return str(answer.json()["id"])


def event(subject: str, name: str = "channel.play", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": str(new_event_id()),  # uuid4 may pass for a card (docs/events.md)
        "subject_id": subject,
        "name": name,
        "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
        "properties": {"channel_id": "news-1"},
        **extra,
    }


def test_a_batch_is_acknowledged_event_by_event(
    client: TestClient, sender: dict[str, str], viewer: str
) -> None:
    good = event(viewer)
    body = {
        "sent_at": NOW.isoformat(),
        "context": {"user_agent": TV, "ip": "198.51.100.23"},
        "events": [good, event(viewer, name="channel.zap"), event(str(new_event_id())), good],
    }
    answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (1, 1, 2)
    results = data["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "duplicate"]
    assert results[0]["event_id"] == good["event_id"]
    assert results[1]["reason"] == "event_name_not_allowed"
    assert results[2]["reason"] == "unknown_subject"
    assert "channel.zap" not in answer.text  # messages never repeat submitted values
    again = client.post("/v1/events", json=body, headers=sender).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "rejected", "rejected",
                                                       "duplicate"]  # fmt: skip


def test_sending_needs_the_events_scope_and_no_purpose(
    client: TestClient, reader: dict[str, str], viewer: str
) -> None:
    body = {"events": [event(viewer)]}
    assert client.post("/v1/events", json=body).status_code == 401
    refused = client.post("/v1/events", json=body, headers=reader)
    assert refused.status_code == 403
    assert_error(refused.json(), "missing_scope")


def test_more_events_than_the_limit_is_413_and_nothing_is_written(
    client: TestClient, sender: dict[str, str], viewer: str, runtime: Runtime
) -> None:
    body = {"events": [event(viewer) for _ in range(MAX_BATCH + 1)]}
    answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 413
    assert_error(answer.json(), "batch_too_large")
    assert answer.json()["error"]["details"] == {"max_events": MAX_BATCH}
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(storage.EVENTS)) == 0


def test_the_events_endpoint_has_its_own_body_limit(
    client: TestClient, sender: dict[str, str], viewer: str, make_key: MakeKey
) -> None:
    # ~100 KB: above the global 64 KiB limit, below the events endpoint's 256 KiB.
    padding = {"channel_id": "n" * 2000}
    body = {"events": [event(viewer, properties=padding) for _ in range(MAX_BATCH)]}
    assert 64 * 1024 < len(json.dumps(body)) < 256 * 1024
    assert client.post("/v1/events", json=body, headers=sender).status_code == 202
    admin = bearer(make_key(["keys:admin"]))
    elsewhere = client.post("/v1/keys", content=json.dumps(body), headers=admin)
    assert elsewhere.status_code == 413
    huge = {"events": [event(viewer, properties={"channel_id": "n" * 4000})] * 70}
    too_big = client.post("/v1/events", json=huge, headers=sender)
    assert too_big.status_code == 413
    assert_error(too_big.json(), "request_too_large")


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"events": "a list, promised"}',
        b'{"events": []}',
        b'{"sent_at": "half past nine", "events": [{"name": "app.open"}]}',
        b'{"events": [{"name": "app.open"}], "extra": 1}',
        b"[]",
    ],
)
def test_a_malformed_batch_is_refused_whole_with_nothing_written(
    client: TestClient, sender: dict[str, str], runtime: Runtime, body: bytes
) -> None:
    answer = client.post(
        "/v1/events", content=body, headers={**sender, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert_error(answer.json(), "validation_failed")
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(storage.EVENTS)) == 0


def test_the_answer_is_the_documented_batch_out(
    client: TestClient, sender: dict[str, str], viewer: str
) -> None:
    """The route serialises its answer itself (decision 0015): it must be exactly what the
    documented model describes, for every kind of outcome."""
    first = event(viewer)
    anonymous = event(viewer, "guide.search", properties={"query": "quiz night", "results": 1})
    del anonymous["subject_id"]
    anonymous["anonymous_id"] = "tv-hall"
    bad = event(viewer, timestamp="half past nine")
    body = {"events": [first, first, event(viewer, "channel.zap"), anonymous, bad]}
    answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 202
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document == json.loads(BatchOut.model_validate(document).model_dump_json())
    assert [r["status"] for r in document["results"]] == [
        "accepted", "duplicate", "rejected", "accepted", "rejected"]  # fmt: skip
    assert (document["accepted"], document["duplicates"], document["rejected"]) == (2, 1, 2)
    assert document["results"][3]["details"] == {"dropped_properties": ["query"]}
    assert document["results"][4]["reason"] == "invalid_event"
    assert document["results"][4]["details"]["fields"][0]["location"] == "timestamp"
    assert document["results"][1] == {"index": 1, "event_id": first["event_id"],
                                      "status": "duplicate", "reason": None, "message": None,
                                      "details": None}  # fmt: skip


def test_a_body_that_is_not_json_by_its_type_is_refused_whole(
    client: TestClient, sender: dict[str, str], viewer: str, runtime: Runtime
) -> None:
    body = json.dumps({"events": [event(viewer)]})
    answer = client.post(
        "/v1/events", content=body, headers={**sender, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 422
    assert_error(answer.json(), "validation_failed")
    json_type = {**sender, "Content-Type": "application/json; charset=utf-8"}
    typed = client.post("/v1/events", content=body, headers=json_type)
    assert typed.status_code == 202
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(storage.EVENTS)) == 1


def test_the_batch_body_and_answer_stay_documented(client: TestClient) -> None:
    # Issue 20 item 23: the events are typed (EventIn in the components), not `items: {}`.
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    operation = document["paths"]["/v1/events"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchIn"
    }
    body = components["BatchIn"]
    assert body["required"] == ["events"]
    assert body["properties"]["events"]["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert body["properties"]["context"]["anyOf"][0] == {"$ref": "#/components/schemas/ContextIn"}
    assert components["EventIn"]["required"] == ["name"]
    assert set(components["EventIn"]["properties"]) == set(EventIn.model_fields)
    assert "user_agent" in components["ContextIn"]["properties"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(components)  # every reference resolves
    answer = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/BatchOut"}
    assert "400" in operation["responses"]  # a body is taken (handlers.document_errors)


def test_card_numbers_in_properties_refuse_the_batch(
    client: TestClient, sender: dict[str, str], viewer: str
) -> None:
    card = "4111 1111 1111 1111"
    body = {"events": [event(viewer, properties={"channel_id": card})]}
    answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 422
    assert_error(answer.json(), "card_data_refused")
    assert card not in answer.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [  # review 2026-12-07, D6: each was accepted and stored in plain text
        (b'{"events": [{"name": "channel.play", "properties": '
         b'{"channel_id": 4111111111111111.0}}]}', "application/json"),
        (b'{"events": [{"name": "channel.play", "properties": '
         b'{"channel_id": 4.111111111111111e15}}]}', "application/json"),
        (b'{"events": [{"name": "channel.play", "properties": {"channel_id": '
         b'"\\u0034\\u0031\\u0031\\u0031111111111111"}}]}', None),
        ('{"events": [{"name": "channel.play", "properties": {"channel_id": '
         '"\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11'
         '\uff11\uff11\uff11\uff11"}}]}'.encode(), "application/json"),
        (b'{"events": [{"name": "channel.play", "properties": '
         b'{"channel_id": "4111.1111.1111.1111"}}]}', "application/json"),
        ('{"events": [{"name": "channel.play", "properties": '
         '{"channel_id": "4111\u00a01111\u00a01111\u00a01111"}}]}'.encode(), None),
    ],
)  # fmt: skip
def test_card_numbers_however_written_refuse_the_batch(
    client: TestClient, sender: dict[str, str], runtime: Runtime, body: bytes,
    content_type: str | None,
) -> None:  # fmt: skip
    headers = {**sender, **({"Content-Type": content_type} if content_type else {})}
    answer = client.post("/v1/events", content=body, headers=headers)
    assert answer.status_code == 422
    assert_error(answer.json(), "card_data_refused")
    assert answer.json()["error"]["details"]["location"].startswith("body.events[0].properties")
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(storage.EVENTS)) == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_batch_that_is_not_utf8_is_refused_unread(
    client: TestClient, sender: dict[str, str], viewer: str, runtime: Runtime, encoding: str
) -> None:
    body = json.dumps({"events": [event(viewer, properties={"channel_id": "4111111111111111"})]})
    for headers in ({**sender, "Content-Type": "application/json"}, sender):
        answer = client.post("/v1/events", content=body.encode(encoding), headers=headers)
        assert answer.status_code == 415
        assert_error(answer.json(), "body_not_utf8")
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(storage.EVENTS)) == 0


@pytest.mark.parametrize("trigger", [b'"card"', b'"4111 1111 1111 1111"', b'"\\u0041"'])
@pytest.mark.parametrize("authorised", [True, False])
def test_deep_nesting_is_refused_not_a_500(
    client: TestClient, sender: dict[str, str], trigger: bytes, authorised: bool
) -> None:
    """Review F7: 5,000 nested lists made the pre-routing scan raise RecursionError."""
    body = b'{"name": %s, "x": %s%s}' % (trigger, b"[" * 5000, b"]" * 5000)
    headers = {"Content-Type": "application/json", **(sender if authorised else {})}
    answer = client.post("/v1/events", content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert "4111" not in answer.text


def test_an_anonymous_request_gets_the_default_body_limit(
    client: TestClient, sender: dict[str, str], viewer: str
) -> None:
    """Review F7: the events endpoint's larger limit needs an API key in the request, so
    an anonymous client cannot make the server buffer and scan 8 MiB before the 401."""
    padding = {"channel_id": "n" * 2000}
    body = json.dumps({"events": [event(viewer, properties=padding) for _ in range(MAX_BATCH)]})
    assert 64 * 1024 < len(body) < 256 * 1024
    anonymous = client.post("/v1/events", content=body)
    assert anonymous.status_code == 413
    assert anonymous.json()["error"]["details"] == {"max_bytes": 64 * 1024}
    wrong_key = client.post("/v1/events", content=body, headers=bearer("shk_not_a_key"))
    assert wrong_key.status_code == 401
    assert client.post("/v1/events", content=body, headers=sender).status_code == 202


def test_login_history_devices_and_events_for_a_permitted_purpose(
    client: TestClient, sender: dict[str, str], reader: dict[str, str], viewer: str
) -> None:
    t = NOW - timedelta(hours=2)
    body = {
        "context": {"user_agent": TV, "ip": "198.51.100.23",
                    "client_hints": {"sec-ch-ua-platform": '"webOS"'}},
        "events": [
            event(viewer, "login", timestamp=t.isoformat(), properties={"method": "code"}),
            event(viewer, "guide.search", timestamp=(t + timedelta(minutes=1)).isoformat(),
                  properties={"query": "mountain travel", "results": 3}),
            event(viewer, "logout", timestamp=(t + timedelta(hours=1)).isoformat(),
                  properties={}),
        ],
    }  # fmt: skip
    assert client.post("/v1/events", json=body, headers=sender).json()["accepted"] == 3

    history = client.get(
        f"/v1/subjects/{viewer}/logins", params={"purpose": "service_provision"}, headers=reader
    )
    assert history.status_code == 200, history.text
    data = history.json()
    assert data["last_login_at"] == t.isoformat().replace("+00:00", "Z")
    (login,) = data["logins"]
    assert login["properties"] == {"method": "code"}
    assert login["logged_out_at"] is not None
    assert login["device"]["device_type"] == "smart_tv"
    assert login["ip"] == "198.51.100.0/24"

    devices = client.get(
        f"/v1/subjects/{viewer}/devices", params={"purpose": "service_provision"}, headers=reader
    ).json()
    assert [d["os_family"] for d in devices["devices"]] == ["webOS"]

    events = client.get(
        f"/v1/subjects/{viewer}/events", params={"purpose": "service_provision"}, headers=reader
    ).json()
    assert events["events"][0]["properties"] == {"query": "mountain travel", "results": 3}


def test_reads_are_refused_for_other_purposes_with_the_rule(
    client: TestClient, make_key: MakeKey, reader: dict[str, str], viewer: str
) -> None:
    analyst = bearer(make_key(["subjects:read"], ["platform_improvement"]))
    refused = client.get(
        f"/v1/subjects/{viewer}/logins", params={"purpose": "platform_improvement"},
        headers=analyst,
    )  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["rule"] == (
        "purposes.platform_improvement.aggregate_only"
    )
    not_bound = client.get(
        f"/v1/subjects/{viewer}/logins", params={"purpose": "platform_improvement"},
        headers=reader,
    )  # fmt: skip
    assert_error(not_bound.json(), "purpose_not_allowed")
    missing = client.get(
        f"/v1/subjects/{uuid.uuid4()}/logins", params={"purpose": "service_provision"},
        headers=reader,
    )  # fmt: skip
    assert missing.status_code == 404


def test_outcomes_are_counted_in_the_metrics(
    client: TestClient, sender: dict[str, str], viewer: str
) -> None:
    client.post("/v1/events", json={"events": [event(viewer), {"name": 1}]}, headers=sender)
    metrics = client.get("/metrics").text
    assert 'safehold_events_total{reason="",status="accepted"} 1.0' in metrics
    assert 'safehold_events_total{reason="invalid_event",status="rejected"} 1.0' in metrics


def test_events_land_in_the_month_of_their_time(
    client: TestClient, sender: dict[str, str], viewer: str, runtime: Runtime
) -> None:
    last_month = (NOW - timedelta(days=10)).isoformat()
    client.post("/v1/events", json={"events": [event(viewer, timestamp=last_month)]},
                headers=sender)  # fmt: skip
    with runtime.sessions() as session:
        february = storage.month_table("events_202602")
        assert session.scalar(select(func.count()).select_from(february)) == 1
