"""People through the API: registration, purpose-scoped reads, corrections, closure,
look-up, payment methods and the audit trail they leave."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safehold.access import audit
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error

ADA = {
    "name": "Ada Quillfeather",
    "email": "Ada.Quillfeather@Example.com",
    "phone": "+44 20 7946 0958",
    "address": {"street": "1 Example Row", "postal_code": "EX1 2MP", "city": "Exampleton",
                "country": "GB"},
    "marketing_opt_in": True,
}  # fmt: skip
CARD = {"processor": "example-pay", "processor_token": "pm_ExampleToken123", "brand": "visa",
        "last4": "4242", "exp_month": 7, "exp_year": 2031}  # fmt: skip


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    scopes = ["subjects:read", "subjects:write", "audit:read"]
    return bearer(make_key(scopes, ["*"], name="crm"))


def register(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    response = client.post("/v1/subjects", json={**ADA, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_register_and_read_everything_for_service_provision(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = register(client, admin)
    assert (
        client.post(f"/v1/subjects/{sid}/payment-methods", json=CARD, headers=admin).json()[
            "display"
        ]
        == "Visa •••• 4242"
    )
    body = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert body["data"]["account.name"] == {"full_name": "Ada Quillfeather"}
    assert body["data"]["account.email"] == {"email": "ada.quillfeather@example.com"}
    assert body["data"]["account.phone"] == {"phone": "+442079460958"}
    assert body["data"]["account.address"]["city"] == "Exampleton"
    assert body["payment_methods"][0]["processor_token"] == "pm_ExampleToken123"
    assert body["withheld"] == []


def test_a_narrower_purpose_sees_less_and_says_why(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = register(client, admin)
    body = client.get(f"/v1/subjects/{sid}?purpose=communication.marketing", headers=admin).json()
    assert set(body["data"]) == {"account.name", "account.email"}
    assert body["payment_methods"] is None
    withheld = {w["category"]: w["rule"] for w in body["withheld"]}
    assert withheld == {
        "account.phone": "purposes.communication.marketing.categories",
        "account.address": "purposes.communication.marketing.categories",
        "account.payment": "purposes.communication.marketing.categories",
    }


def test_an_opt_out_refuses_marketing_with_the_rule_and_is_audited(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    sid = register(client, admin, marketing_opt_in=False)
    refused = client.get(f"/v1/subjects/{sid}?purpose=communication.marketing", headers=admin)
    assert refused.status_code == 403
    assert_error(refused.json(), "purpose_refused")
    assert refused.json()["error"]["details"]["rule"] == "purposes.communication.marketing.opt_out"
    trail = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert [(e["action"], e["outcome"]) for e in trail] == [
        ("subject.register", "ok"),
        ("subject.read", "refused"),
    ]
    with runtime.sessions() as session:
        assert audit.verify(session).ok


def test_a_key_bound_to_another_purpose_is_refused(
    client: TestClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    sid = register(client, admin)
    mailer = bearer(make_key(["subjects:read"], ["communication.service"]))
    ok = client.get(f"/v1/subjects/{sid}?purpose=communication.service", headers=mailer)
    assert ok.status_code == 200
    refused = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=mailer)
    assert refused.status_code == 403
    assert_error(refused.json(), "purpose_not_allowed")
    assert client.post("/v1/subjects", json=ADA, headers=mailer).status_code == 403


UNDECLARED = "Zanzibar-Quokka-7731"  # a purpose no policy declares, easy to grep for


@pytest.mark.parametrize("path", ["", "/logins", "/devices", "/events"])
def test_an_undeclared_purpose_is_never_repeated_nor_audited_as_sent(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    """docs/api.md: messages never repeat submitted values; the audit log, which keeps
    everything for good, records the purpose as undeclared."""
    sid = register(client, admin)
    refused = client.get(f"/v1/subjects/{sid}{path}?purpose={UNDECLARED}", headers=admin)
    assert refused.status_code == 403
    assert_error(refused.json(), "purpose_refused")
    assert UNDECLARED not in refused.text
    assert refused.json()["error"]["details"] == {
        "purpose": None,
        "rule": "policy.purposes.unknown",
    }
    trail = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert trail[-1]["outcome"] == "refused"
    assert trail[-1]["purpose"] == "(undeclared)"
    assert UNDECLARED not in json.dumps(trail)


def test_a_refused_read_audits_only_declared_categories(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = register(client, admin, marketing_opt_in=False)
    asked = f"?purpose=communication.marketing&categories=account.email&categories={UNDECLARED}"
    assert client.get(f"/v1/subjects/{sid}{asked}", headers=admin).status_code == 403
    trail = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert trail[-1]["categories"] == ["account.email"]
    assert trail[-1]["purpose"] == "communication.marketing"


def test_purpose_not_allowed_names_declared_purposes_only(
    client: TestClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    sid = register(client, admin)
    mailer = bearer(make_key(["subjects:read"], ["communication.service"]))
    declared = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=mailer)
    assert "'service_provision'" in declared.json()["error"]["message"]
    assert declared.json()["error"]["details"]["purpose"] == "service_provision"
    undeclared = client.get(f"/v1/subjects/{sid}?purpose={UNDECLARED}", headers=mailer)
    assert undeclared.status_code == 403
    assert_error(undeclared.json(), "purpose_not_allowed")
    assert UNDECLARED not in undeclared.text
    assert "an undeclared purpose" in undeclared.json()["error"]["message"]
    assert undeclared.json()["error"]["details"] == {
        "purpose": None,
        "allowed_purposes": ["communication.service"],
    }


def test_unknown_scopes_and_purposes_of_a_new_key_are_not_repeated(
    client: TestClient, make_key: MakeKey
) -> None:
    keys_admin = bearer(make_key(["keys:admin"], ["*"]))
    for scopes, purposes, code in [
        ([UNDECLARED], ["service_provision"], "unknown_scope"),
        (["subjects:read"], [UNDECLARED], "unknown_purpose"),
    ]:
        answer = client.post(
            "/v1/keys",
            json={"name": "crm", "scopes": scopes, "purposes": purposes},
            headers=keys_admin,
        )
        assert answer.status_code == 422
        assert_error(answer.json(), code)
        assert UNDECLARED not in answer.text


def test_duplicate_email_is_409_whatever_its_case(
    client: TestClient, admin: dict[str, str]
) -> None:
    register(client, admin)
    again = client.post(
        "/v1/subjects", json={**ADA, "email": "ADA.QUILLFEATHER@example.com"}, headers=admin
    )
    assert again.status_code == 409
    assert_error(again.json(), "email_taken")
    assert "quillfeather" not in again.text.lower()


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("email", "not-an-address", "invalid_email"),
        ("phone", "12", "invalid_phone"),
        ("name", "", "validation_failed"),
        ("address", {"street": "x", "postal_code": "1", "city": "y", "country": "Narnia"},
         "validation_failed"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_without_echo(
    client: TestClient, admin: dict[str, str], field: str, value: object, code: str
) -> None:
    response = client.post("/v1/subjects", json={**ADA, field: value}, headers=admin)
    assert response.status_code == 422
    assert_error(response.json(), code)
    if isinstance(value, str) and value:
        assert value not in response.text


def test_rectification_updates_data_index_and_records_the_source(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = register(client, admin)
    patched = client.patch(
        f"/v1/subjects/{sid}",
        json={"email": "ada.q@example.net", "phone": None, "source": "person"},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    body = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert body["data"]["account.email"] == {"email": "ada.q@example.net"}
    assert "account.phone" not in body["data"]
    found = client.post("/v1/subjects/lookup", json={"email": "Ada.Q@example.net"}, headers=admin)
    assert found.json()["id"] == sid
    old = client.post("/v1/subjects/lookup", json={"email": ADA["email"]}, headers=admin)
    assert old.status_code == 404
    actions = [
        e["action"] for e in client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    ]
    assert "subject.rectify.person" in actions


def test_rectification_cannot_take_another_persons_email(
    client: TestClient, admin: dict[str, str]
) -> None:
    register(client, admin)
    other = register(client, admin, email="bo.tumbleweed@example.org")
    clash = client.patch(
        f"/v1/subjects/{other}", json={"email": ADA["email"], "source": "operator"}, headers=admin
    )
    assert clash.status_code == 409


def test_closure_starts_retention_and_narrows_purposes(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    sid = register(client, admin)
    closed = client.post(f"/v1/subjects/{sid}/close", headers=admin).json()
    assert closed["status"] == "closed"
    assert closed["closed_at"].startswith(runtime.clock.now().date().isoformat())
    service = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin)
    assert service.status_code == 403
    assert service.json()["error"]["details"]["rule"] == "subject.closed"
    notice = client.get(f"/v1/subjects/{sid}?purpose=communication.service", headers=admin)
    assert notice.status_code == 200


def test_lookup_by_phone_and_unknown_people(client: TestClient, admin: dict[str, str]) -> None:
    sid = register(client, admin)
    by_phone = client.post("/v1/subjects/lookup", json={"phone": "+442079460958"}, headers=admin)
    assert by_phone.json()["id"] == sid
    assert client.post("/v1/subjects/lookup", json={}, headers=admin).status_code == 422
    missing = client.get(
        "/v1/subjects/00000000-0000-4000-8000-000000000000?purpose=service_provision",
        headers=admin,
    )
    assert missing.status_code == 404
    assert_error(missing.json(), "subject_not_found")


def test_card_data_never_reaches_payment_methods(client: TestClient, admin: dict[str, str]) -> None:
    sid = register(client, admin)
    for bad in (
        {**CARD, "processor_token": "4242 4242 4242 4242"},
        {**CARD, "cvv": "123"},
        {**CARD, "card_number": "x"},
    ):
        response = client.post(f"/v1/subjects/{sid}/payment-methods", json=bad, headers=admin)
        assert response.status_code == 422
        assert_error(response.json(), "card_data_refused")
    body = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert body["payment_methods"] == []


def test_payment_fields_take_ascii_only(client: TestClient, admin: dict[str, str]) -> None:
    # Security review F21: "\\w" and "\\d" match any script's letters and digits.
    sid = register(client, admin)
    for bad in (
        {**CARD, "processor": "ëxample-pay"},
        {**CARD, "last4": "\u0664\u0662\u0664\u0662"},
    ):
        response = client.post(f"/v1/subjects/{sid}/payment-methods", json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert_error(response.json(), "validation_failed")


def test_audit_needs_its_scope(client: TestClient, make_key: MakeKey) -> None:
    reader = bearer(make_key(["subjects:read"], ["*"]))
    response = client.get("/v1/audit", headers=reader)
    assert response.status_code == 403
    assert_error(response.json(), "missing_scope")


def lookups(client: TestClient, admin: dict[str, str]) -> list[tuple[str | None, str, str]]:
    """The look-ups in the audit log: (person, purpose, outcome)."""
    entries = client.get("/v1/audit?limit=1000", headers=admin).json()["entries"]
    return [
        (e["subject_id"], e["purpose"], e["outcome"])
        for e in entries
        if e["action"] == "subject.lookup"
    ]


def test_a_lookup_is_refused_by_the_policy_before_anybody_is_looked_up(
    client: TestClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    register(client, admin)
    marketing = bearer(make_key(["subjects:read"], ["communication.marketing"]))
    improvement = bearer(make_key(["subjects:read"], ["platform_improvement"]))
    cases = [
        (marketing, {"phone": ADA["phone"], "purpose": "communication.marketing"},
         "purposes.communication.marketing.categories"),  # marketing may not use phones
        (marketing, {"phone": "+44 20 7946 0000", "purpose": "communication.marketing"},
         "purposes.communication.marketing.categories"),  # nobody's: the same answer
        (improvement, {"email": ADA["email"], "purpose": "platform_improvement"},
         "purposes.platform_improvement.aggregate_only"),
        (improvement, {"phone": ADA["phone"], "purpose": "platform_improvement"},
         "purposes.platform_improvement.aggregate_only"),
    ]  # fmt: skip
    for headers, body, rule in cases:
        refused = client.post("/v1/subjects/lookup", json=body, headers=headers)
        assert refused.status_code == 403, body
        assert_error(refused.json(), "purpose_refused")
        assert refused.json()["error"]["details"]["rule"] == rule
        assert "7946" not in refused.text
    assert lookups(client, admin) == [
        (None, "communication.marketing", "refused"),
        (None, "communication.marketing", "refused"),
        (None, "platform_improvement", "refused"),
        (None, "platform_improvement", "refused"),
    ]
    by_email = {"email": ADA["email"], "purpose": "communication.marketing"}
    assert client.post("/v1/subjects/lookup", json=by_email, headers=marketing).status_code == 200


def test_a_person_the_purpose_may_not_use_is_not_found_like_nobody(
    client: TestClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    opted_out = register(client, admin, marketing_opt_in=False)
    objected = register(client, admin, email="bo.tumbleweed@example.org", phone=None)
    objection = {"purpose": "communication.marketing"}
    answer = client.post(f"/v1/subjects/{objected}/objections", json=objection, headers=admin)
    assert answer.status_code == 201, answer.text
    closed = register(client, admin, email="cy.marsh@example.net", phone=None)
    assert client.post(f"/v1/subjects/{closed}/close", headers=admin).status_code == 200
    marketing = bearer(make_key(["subjects:read"], ["communication.marketing"]))

    def look_up(email: str, headers: dict[str, str], purpose: str) -> Any:
        body = {"email": email, "purpose": purpose}
        return client.post("/v1/subjects/lookup", json=body, headers=headers)

    nobody = look_up("nobody@example.com", marketing, "communication.marketing")
    assert nobody.status_code == 404
    assert_error(nobody.json(), "subject_not_found")
    for email in (ADA["email"], "bo.tumbleweed@example.org", "cy.marsh@example.net"):
        hidden = look_up(email, marketing, "communication.marketing")
        assert (hidden.status_code, hidden.json()) == (404, nobody.json()), email
    trail = lookups(client, admin)
    assert trail == [
        (None, "communication.marketing", "not_found"),
        (opted_out, "communication.marketing", "refused"),
        (objected, "communication.marketing", "refused"),
        (closed, "communication.marketing", "refused"),
    ]
    # The purposes the person has not refused still find them.
    assert look_up(ADA["email"], admin, "service_provision").json()["id"] == opted_out
    notice = look_up("cy.marsh@example.net", admin, "communication.service")
    assert notice.json()["id"] == closed  # closure notices outlive the account


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430da.quillfeather@example.com",  # CYRILLIC SMALL LETTER A
        "ada.quillfeather@ex\u0430mple.com",  # the same, in the domain
        "\uff41da.quillfeather@example.com",  # FULLWIDTH LATIN SMALL LETTER A
    ],
)
def test_a_look_alike_address_is_refused_everywhere_not_a_second_account(
    client: TestClient, admin: dict[str, str], look_alike: str
) -> None:
    sid = register(client, admin)
    answers = {
        "register": client.post("/v1/subjects", json={**ADA, "email": look_alike}, headers=admin),
        "correct": client.patch(
            f"/v1/subjects/{sid}", json={"email": look_alike, "source": "person"}, headers=admin
        ),
        "look up": client.post("/v1/subjects/lookup", json={"email": look_alike}, headers=admin),
    }
    for answer in answers.values():
        assert answer.status_code == 422
        assert_error(answer.json(), "email_confusable")
        assert look_alike not in answer.text
        assert look_alike.split("@")[0] not in answer.text
    kept = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert kept["data"]["account.email"] == {"email": ADA["email"].lower()}
