"""Issue 20, repeated as reported through HTTP. Item 25: a phone number's refusal says what
is wrong with it. Item 26: control characters are refused in text fields. Item 27: no
literal path is taken for a sibling's parameter."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safehold.access.rules import SCOPES
from safehold.runtime import Runtime
from safehold.subjects.models import Subject
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.e2e.test_subjects import ADA


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(["subjects:read", "subjects:write"], ["*"], name="crm"))


@pytest.mark.parametrize(
    ("phone", "reason", "words"),
    [
        ("+44 7700 900123", "not_a_number", "not a valid phone number"),  # as reported
        ("+999 123 4567", "not_a_number", "not a valid phone number"),  # no such country code
        ("020 7946 0958", "international_form_needed", "use the international form"),
    ],
)
def test_a_phone_refusal_says_what_is_wrong(
    client: TestClient, admin: dict[str, str], phone: str, reason: str, words: str
) -> None:
    person = {**ADA, "phone": phone, "address": None}  # no country to read a national number
    response = client.post("/v1/subjects", json=person, headers=admin)
    assert response.status_code == 422
    body = response.json()
    assert_error(body, "invalid_phone")
    assert body["error"]["details"] == {"field": "phone", "reason": reason}
    assert words in body["error"]["message"]
    if reason == "not_a_number":
        assert "international form" not in body["error"]["message"]


def test_a_national_number_is_read_with_the_address_country(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post("/v1/subjects", json={**ADA, "phone": "020 7946 0958"}, headers=admin)
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    read = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert read["data"]["account.phone"] == {"phone": "+442079460958"}


def test_every_literal_path_answers_405_to_a_method_it_does_not_have(
    client: TestClient, make_key: MakeKey
) -> None:
    # Reported for /v1/subjects/lookup, /v1/messages/bounces and /v1/keys/me (422 about a
    # malformed id from the sibling /{id} route); checked here for every literal API path,
    # with a key holding every scope so no 403 hides a shadowing route.
    headers = bearer(make_key(list(SCOPES), ["*"]))
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    literal = {path: ops for path, ops in paths.items() if "{" not in path}
    assert {"/v1/subjects/lookup", "/v1/messages/bounces", "/v1/keys/me"} <= set(literal)
    for path, ops in literal.items():
        declared = {m.upper() for m in ops}
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - declared:
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 405, (method, path, answer.text)
            assert_error(answer.json(), "method_not_allowed")
            allowed = {m.strip() for m in answer.headers["allow"].split(",")}
            assert allowed == declared - {"HEAD"}, (method, path)


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Ada\x00Quill"},  # as reported: NUL
        {"name": "Ada\r\nQuill"},  # as reported: CR/LF
        {"name": "Ada\tQuill"},
        {"name": "Ada\u0085Quill"},  # C1 (NEL)
        {"address": {**ADA["address"], "street": "1 Example Row\n2nd floor"}},  # type: ignore[dict-item]
    ],
)
def test_a_control_character_in_a_text_field_is_refused_and_nothing_is_written(
    client: TestClient, admin: dict[str, str], runtime: Runtime, overrides: dict[str, object]
) -> None:
    response = client.post("/v1/subjects", json={**ADA, **overrides}, headers=admin)
    assert response.status_code == 422
    assert_error(response.json(), "control_character_refused")
    field = next(iter(overrides))
    location = response.json()["error"]["details"]["location"]
    assert location == ("body.address.street" if field == "address" else "body.name")
    assert "Quill" not in response.text  # the value is never echoed
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 0


def test_corrections_cards_and_query_parameters_are_guarded_too(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = client.post("/v1/subjects", json=ADA, headers=admin).json()["id"]
    patched = client.patch(
        f"/v1/subjects/{sid}", json={"name": "Ada\x1b[2JQuill", "source": "person"}, headers=admin
    )
    assert patched.status_code == 422
    assert_error(patched.json(), "control_character_refused")
    card = {"processor": "example-pay", "processor_token": "pm_1\n", "brand": "visa",
            "last4": "4242", "exp_month": 7, "exp_year": 2031}  # fmt: skip
    added = client.post(f"/v1/subjects/{sid}/payment-methods", json=card, headers=admin)
    assert_error(added.json(), "control_character_refused")
    read = client.get(
        f"/v1/subjects/{sid}",
        params={"purpose": "legal_obligation", "reference": "Case\r\n42"},
        headers=admin,
    )
    assert read.status_code == 422
    assert read.json()["error"]["details"] == {"location": "query.reference"}
    body = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert body["data"]["account.name"] == {"full_name": "Ada Quillfeather"}  # unchanged


def test_a_page_is_refused_with_a_page(client: TestClient) -> None:
    # The privacy center's and the console's forms are text fields too; their refusal is a
    # readable page with the stable code, like every page error.
    form = {"email": "ada.quill@example.com\r\nBcc: x@example.com"}
    answer = client.post("/me/sign-in", data=form)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "control_character_refused" in answer.text
    assert "Bcc" not in answer.text
    query = client.get("/admin/sign-in", params={"next": "/admin\x00"})
    assert query.status_code == 422
    assert query.headers["content-type"].startswith("text/html")
