"""The HTTP skeleton: operations endpoints, the policy, and one error shape for everything."""

from __future__ import annotations

import logging
import random
import re
import string

import pytest
from fastapi.testclient import TestClient

from safehold.app import create_app
from safehold.runtime import Runtime

MARKER = "Zanzibar-Quokka-7731@example.com"


def assert_error(response_json: dict[str, object], code: str) -> None:
    assert set(response_json) == {"error"}
    error = response_json["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "migrations": True}


def test_readiness_fails_when_migrations_are_behind(runtime: Runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.engine import make_url

    from safehold.db import make_engine

    empty = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path / 'empty.db'}"))
    behind = Runtime(
        runtime.settings, empty, runtime.sessions, runtime.policy, runtime.vault, runtime.clock
    )
    with TestClient(create_app(behind)) as c:
        response = c.get("/readyz")
    empty.dispose()
    assert response.status_code == 503
    assert_error(response.json(), "not_ready")
    assert response.json()["error"]["details"]["checks"]["migrations"] is False


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.delete("/v1/keys/nosuchkeyzzzz")  # a key id's shape: the route matches, 401
    text = client.get("/metrics").text
    assert 'safehold_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/v1/keys/{key_id}"' in text
    assert "nosuchkey" not in text
    assert 'route="/v1/keys/{key_id:key_id}"' not in text  # the template, not its convertor


def test_metrics_method_labels_stay_a_fixed_set(client: TestClient) -> None:
    """Any token is a method to the HTTP server; each must not become a new label value."""
    rng = random.Random(8)
    tokens = ["".join(rng.choices(string.ascii_uppercase, k=12)) for _ in range(25)]
    for token in tokens:
        assert client.request(token, "/healthz").status_code == 405
    text = client.get("/metrics").text
    labels = set(re.findall(r'safehold_http_request\w*\{method="([^"]*)"', text))
    assert labels <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert not any(token in text for token in tokens)
    assert 'safehold_http_requests_total{method="other",route="/healthz",status="405"} 25.0' in text


def test_the_active_policy_as_json(client: TestClient) -> None:
    body = client.get("/v1/policy").json()
    assert len(body["content_hash"]) == 64
    ids = {p["id"] for p in body["policy"]["purposes"]}
    assert {"service_provision", "platform_improvement", "communication.service"} <= ids
    assert "communication.marketing" in ids


def test_openapi_and_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/policy" in spec["paths"]
    assert "/readyz" in spec["paths"]


def test_404_and_405_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert_error(missing.json(), "not_found")
    wrong = client.put("/healthz")
    assert wrong.status_code == 405
    assert_error(wrong.json(), "method_not_allowed")


def test_validation_errors_name_fields_but_never_echo_values(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import bearer

    token = make_key(["policy:read"], ["*"])
    response = client.post(
        "/v1/policy/evaluate",
        json={"purpose": "service_provision", "categories": MARKER, "state": {"x": MARKER}},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert_error(response.json(), "validation_failed")
    assert MARKER not in response.text
    locations = {f["location"] for f in response.json()["error"]["details"]["fields"]}
    assert "body.categories" in locations


def test_malformed_json_is_a_clear_422(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import bearer

    token = make_key(["policy:read"], ["*"])
    response = client.post(
        "/v1/policy/evaluate",
        content=b'{"purpose": "' + MARKER.encode() + b'", ',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert_error(response.json(), "validation_failed")
    assert MARKER not in response.text


def test_request_size_limit(client: TestClient, runtime: Runtime) -> None:
    limit = runtime.settings.max_request_bytes
    big = b"x" * (limit + 1)
    declared = client.post("/v1/policy/evaluate", content=big)
    assert declared.status_code == 413
    assert_error(declared.json(), "request_too_large")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 1000 + 2):
            yield b"y" * 1000

    streamed = client.post("/v1/policy/evaluate", content=chunks())
    assert streamed.status_code == 413


def test_unexpected_errors_are_a_bare_500(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"secret detail {MARKER}")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert_error(response.json(), "internal_error")
    assert MARKER not in response.text
    assert "Traceback" not in response.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    echoed = client.get("/healthz", headers={"X-Request-ID": "req-abc.123"})
    assert echoed.headers["x-request-id"] == "req-abc.123"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["x-request-id"] != "a b\tc"


def test_card_data_is_refused_on_any_endpoint_without_echo(client: TestClient) -> None:
    card = "4242 4242 4242 4242"
    for path, payload in [
        ("/v1/policy/evaluate", {"purpose": "service_provision", "note": card}),
        ("/v1/keys", {"name": "x", "scopes": ["a"], "card_number": "1"}),
        ("/v1/anything", {"payment": {"cvv": "123"}}),
    ]:
        response = client.post(path, json=payload)
        assert response.status_code == 422, path
        assert_error(response.json(), "card_data_refused")
        assert "4242" not in response.text
        assert "123" not in response.text


def test_readiness_probes_log_no_alembic_lines(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert client.get("/readyz").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
