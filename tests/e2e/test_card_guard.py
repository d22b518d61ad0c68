"""The card-data guard in front of every route (review 2026-12-07, F3 and F7): bodies in
other encodings, cards in headers and query strings, deep nesting, and large bodies
scanned off the event loop."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from safehold import carddata
from safehold.middleware import SCAN_INLINE_BYTES, HttpMetrics, RequestContext
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.e2e.test_subjects import ADA, register

CARD = "4111111111111111"


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    scopes = ["subjects:read", "subjects:write", "audit:read", "policy:read"]
    return bearer(make_key(scopes, ["*"], name="crm"))


@pytest.mark.parametrize(
    "name",
    [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111\u200b1111\u200b1111\u200b1111",
        "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
        "".join(chr(0x0966 + int(d)) for d in CARD),  # Devanagari
    ],
)
def test_a_card_written_otherwise_is_refused_before_anything_is_stored(
    client: TestClient, admin: dict[str, str], name: str
) -> None:
    """D2, D3: each of these was stored as a person's name."""
    answer = client.post("/v1/subjects", json={**ADA, "name": name}, headers=admin)
    assert answer.status_code == 422
    assert_error(answer.json(), "card_data_refused")
    assert answer.json()["error"]["details"] == {"location": "body.name"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-le"])
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-16"])
def test_json_that_is_not_utf8_is_refused_before_routing(
    client: TestClient, admin: dict[str, str], encoding: str, content_type: str
) -> None:
    """D4: FastAPI reads UTF-16 and UTF-32 JSON; the card in it was stored (201)."""
    body = json.dumps({**ADA, "name": CARD}).encode(encoding)
    answer = client.post(
        "/v1/subjects", content=body, headers={**admin, "Content-Type": content_type}
    )
    assert answer.status_code == 415
    assert_error(answer.json(), "body_not_utf8")
    assert CARD not in answer.text
    utf8 = json.dumps({**ADA, "name": "Ada Quillfeather"}).encode()
    fine = client.post(
        "/v1/subjects", content=utf8, headers={**admin, "Content-Type": content_type}
    )
    assert fine.status_code == 201


@pytest.mark.parametrize("request_id", [CARD, "4111-1111-1111-1111", "ref.4111.1111.1111.1111"])
def test_a_request_id_holding_a_card_is_replaced(
    client: TestClient, admin: dict[str, str], request_id: str
) -> None:
    """D9: the request id is echoed, logged and stored in audit entries."""
    answer = client.post("/v1/subjects", json=ADA, headers={**admin, "X-Request-ID": request_id})
    assert answer.status_code == 201
    assert answer.headers["x-request-id"] != request_id
    assert len(answer.headers["x-request-id"]) == 32
    sid = answer.json()["id"]
    trail = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert trail[-1]["request_id"] == answer.headers["x-request-id"]
    plain = client.get("/healthz", headers={"X-Request-ID": "order-2026-000123"})
    assert plain.headers["x-request-id"] == "order-2026-000123"


@pytest.mark.parametrize(
    "query",
    [
        f"purpose={CARD}",
        "purpose=4111+1111.1111.1111",
        f"purpose=service_provision&categories={CARD}",
    ],
)
def test_a_card_in_the_query_string_is_refused_and_never_audited(
    client: TestClient, admin: dict[str, str], query: str
) -> None:
    """D10: the purpose was echoed in the 403 and stored in the audit log for good."""
    sid = register(client, admin)
    before = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    answer = client.get(f"/v1/subjects/{sid}?{query}", headers=admin)
    assert answer.status_code == 422
    assert_error(answer.json(), "card_data_refused")
    assert answer.json()["error"]["details"]["location"].startswith("query.")
    assert "4111" not in answer.text
    after = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert after == before


@pytest.mark.parametrize("path", ["/v1/policy/evaluate", "/v1/subjects", "/v1/nowhere"])
@pytest.mark.parametrize("trigger", [b'"card"', b'"4111 1111 1111 1111"', b'"\\u0041"'])
def test_deep_nesting_is_a_4xx_on_any_path(
    client: TestClient, admin: dict[str, str], path: str, trigger: bytes
) -> None:
    """F7: RecursionError in the pre-routing scan answered 500, even unauthenticated."""
    body = b'{"name": %s, "x": %s%s}' % (trigger, b"[" * 5000, b"]" * 5000)
    for headers in ({}, admin):
        answer = client.post(
            path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert 400 <= answer.status_code < 500, answer.text


def test_a_body_nested_past_the_limit_is_body_too_deep(
    client: TestClient, admin: dict[str, str]
) -> None:
    depth = carddata.MAX_DEPTH + 1
    body = b'{"x": %s%s, "note": "4111 1111 1111 1111"}' % (b"[" * depth, b"]" * depth)
    answer = client.post(
        "/v1/subjects", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert_error(answer.json(), "body_too_deep")
    assert answer.json()["error"]["details"] == {"max_depth": carddata.MAX_DEPTH}


def test_large_bodies_are_scanned_off_the_event_loop() -> None:
    """F7: a large body's scan runs in a worker thread, so other requests are answered
    meanwhile; a small one is scanned inline (cheaper than a thread hop)."""
    scanned_on: list[int] = []

    def recording_scan(body: bytes, content_type: str) -> carddata.Finding | None:
        scanned_on.append(threading.get_ident())
        return carddata.scan(body, content_type)

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"loop_thread": threading.get_ident()})

    app = RequestContext(
        Starlette(routes=[Route("/echo", endpoint, methods=["POST"])]),
        max_body=4 * SCAN_INLINE_BYTES,
        metrics=HttpMetrics(CollectorRegistry()),
        scan=recording_scan,
    )
    with TestClient(app) as client:
        small = client.post("/echo", json={"note": "x" * 100})
        large = client.post("/echo", json={"note": "x" * (2 * SCAN_INLINE_BYTES)})
        refused = client.post("/echo", json={"note": "x" * (2 * SCAN_INLINE_BYTES), "n": CARD})
    loop_thread = small.json()["loop_thread"]
    assert large.json()["loop_thread"] == loop_thread
    assert scanned_on[0] == loop_thread
    assert scanned_on[1] != loop_thread
    assert refused.status_code == 422
    assert scanned_on[2] != loop_thread
