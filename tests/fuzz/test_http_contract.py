"""What the fuzzer found, pinned as plain tests: 405 names every method of the path, numbers
past their column and NUL characters are refused (not a 500), and the OpenAPI document
declares every error in the one shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from safehold.handlers import ErrorOut
from tests.fuzz.conftest import DOCUMENT, Target, bearer

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def client(target: Target) -> Iterator[TestClient]:
    with TestClient(target.app, raise_server_exceptions=False) as c:
        yield c


def test_405_lists_every_method_of_the_path(client: TestClient, target: Target) -> None:
    # GET and POST /v1/keys are two routes: Starlette alone would name only the first.
    answer = client.put("/v1/keys", headers=bearer(target.admin))
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= {"GET", "POST"}
    assert ErrorOut.model_validate(answer.json()).error.code == "method_not_allowed"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/policy/versions/9223372036854775808",
        "/v1/policy/diff?from=9223372036854775808&to=1",
        "/v1/policy/acceptances?version=2147483648",
        "/v1/audit?after=9223372036854775808",
        "/policy/versions/99999999999999999999",  # the public pages, outside /openapi.json
        "/policy/diff?from=99999999999999999999&to=1",
    ],
)
def test_numbers_past_their_column_are_refused_not_a_500(
    client: TestClient, target: Target, path: str
) -> None:
    answer = client.get(path, headers=bearer(target.admin))
    assert answer.status_code == 422, answer.text
    assert ErrorOut.model_validate(answer.json()).error.code == "validation_failed"


def test_every_error_is_declared_in_the_one_shape() -> None:
    shape = {"$ref": "#/components/schemas/ErrorOut"}
    operation = DOCUMENT["paths"]["/v1/requests"]["post"]
    for status in ["400", "401", "403", "404", "409", "413", "422", "429", "500", "503", "507"]:
        assert operation["responses"][status]["content"]["application/json"]["schema"] == shape
    public = DOCUMENT["paths"]["/v1/policy"]["get"]["responses"]
    assert "401" not in public  # no key, no key errors
    assert "403" not in public
    assert "ErrorOut" in DOCUMENT["components"]["schemas"]


def test_a_nul_character_is_refused_not_a_500(client: TestClient, target: Target) -> None:
    # A NUL byte, which PostgreSQL cannot store in text, never reaches the audit log: since
    # issue 20 (item 26) a control character in any query parameter is refused before the
    # route runs (it was refused as an undeclared purpose, audited as "(undeclared)", F3).
    sid = target.ids["subject_id"]
    answer = client.get(
        f"/v1/subjects/{sid}/events", params={"purpose": "\x00"}, headers=bearer(target.admin)
    )
    assert answer.status_code == 422, answer.text
    error = ErrorOut.model_validate(answer.json()).error
    assert error.code == "control_character_refused"
    assert error.details == {"location": "query.purpose"}
    assert "\x00" not in answer.text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/keys/me", {"GET"}),  # DELETE is /v1/keys/{key_id}, ids only
        ("OPTIONS", "/v1/messages/bounces", {"POST"}),  # GET is /v1/messages/{message_id}
        ("PATCH", "/v1/subjects/lookup", {"POST"}),  # PATCH is /v1/subjects/{subject_id}
    ],
)
def test_a_named_path_is_never_taken_for_an_id(
    client: TestClient, target: Target, method: str, path: str, allowed: set[str]
) -> None:
    # Security review F21: the id routes match UUIDs only, so their literal siblings answer
    # 405 with their own methods instead of a 422 about a malformed id.
    answer = client.request(method, path, headers=bearer(target.admin))
    assert answer.status_code == 405, answer.text
    assert {m.strip() for m in answer.headers["allow"].split(",")} == allowed


def test_the_acceptances_csv_is_declared() -> None:
    content = DOCUMENT["paths"]["/v1/policy/acceptances"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/policy/evaluate", {"purpose": "service_provision", "aggregate": 0}),
        ("/v1/policy/evaluate", {"purpose": "service_provision", "aggregate": "yes"}),
        ("/v1/events", {"sent_at": 0, "events": [{"name": "app.open"}]}),
        ("/v1/events", {"sent_at": 1.7e9, "events": [{"name": "app.open"}]}),
        (
            "/v1/subjects",
            {"name": "Ida Lax", "email": "ida.lax@example.com", "marketing_opt_in": "yes"},
        ),
        (
            "/v1/subjects",
            {"name": "Ida Lax", "email": "ida.lax@example.com", "marketing_opt_in": 1},
        ),
    ],
)
def test_lax_conversions_are_refused(
    client: TestClient, target: Target, path: str, body: dict[str, object]
) -> None:
    answer = client.post(path, json=body, headers=bearer(target.admin))
    assert answer.status_code == 422, answer.text
    assert ErrorOut.model_validate(answer.json()).error.code == "validation_failed"
