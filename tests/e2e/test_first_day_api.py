"""Issue 20, repeated as reported through HTTP. Item 25: a phone number's refusal says what
is wrong with it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

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
