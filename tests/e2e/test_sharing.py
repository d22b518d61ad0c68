"""Third-party sharing through the HTTP API: recipients, disclosures and every refusal, a
person's "who received my data", notices owed to recipients, and the RoPA."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from safehold.carddata import contains_card_number
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.e2e.test_subjects import CARD, register

SHARING = [
    "subjects:read",
    "subjects:write",
    "disclosures:write",
    "disclosures:read",
    "ropa:read",
    "audit:read",
]


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(SHARING, ["*"], name="privacy-team"))


def person(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    sid = register(client, headers, **overrides)
    assert not contains_card_number(sid), "an identifier must never look like a card number"
    return sid


def ada_with_card(client: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    sid = person(client, headers, **overrides)
    added = client.post(f"/v1/subjects/{sid}/payment-methods", json=CARD, headers=headers)
    assert added.status_code == 201, added.text
    return sid


def disclose(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/disclosures", json=body, headers=headers)


def test_recipients_come_from_the_policy(client: TestClient, make_key: MakeKey) -> None:
    any_key = bearer(make_key(["events:write"]))
    listed = client.get("/v1/recipients", headers=any_key)
    assert listed.status_code == 200
    by_id = {r["id"]: r for r in listed.json()}
    assert set(by_id) == {"payment_processor", "email_delivery", "authorities"}
    assert by_id["authorities"]["role"] == "authority"
    assert by_id["authorities"]["legal_reference_required"] is True
    assert by_id["payment_processor"]["delivery"] == "manual"  # no webhook configured
    assert client.get("/v1/recipients").status_code == 401


def test_a_processor_receives_exactly_the_allowed_categories_and_it_is_on_record(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = ada_with_card(client, admin)
    response = disclose(
        client, admin, recipient="payment_processor", purpose="service_provision",
        subjects=[sid], categories=["account.name", "account.email", "account.payment"],
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    [package] = body["people"]
    assert package["outcome"] == "disclosed"
    assert package["data"] == {
        "account.email": {"email": "ada.quillfeather@example.com"},
        "account.name": {"full_name": "Ada Quillfeather"},
    }
    assert [m["display"] for m in package["payment_methods"]] == ["Visa •••• 4242"]
    assert body["disclosure"]["people_disclosed"] == 1
    disclosure_id = body["disclosure"]["id"]

    mine = client.get(f"/v1/subjects/{sid}/disclosures", headers=admin).json()
    assert [(x["recipient_name"], x["purpose"], x["categories"]) for x in mine] == [
        ("Example Payments Ltd (fictional)", "service_provision",
         ["account.email", "account.name", "account.payment"])
    ]  # fmt: skip
    records = client.get("/v1/disclosures", headers=admin).json()
    assert [r["id"] for r in records] == [disclosure_id]
    detail = client.get(f"/v1/disclosures/{disclosure_id}", headers=admin).json()
    assert detail["people"] == [
        {"subject_id": sid, "outcome": "disclosed", "rule": None,
         "categories": ["account.email", "account.name", "account.payment"]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"recipient": "ad_network_xyz", "purpose": "service_provision",
          "categories": ["account.email"]}, "policy.recipients.unknown"),
        ({"recipient": "payment_processor", "purpose": "profiling_xyz",
          "categories": ["account.email"]}, "policy.purposes.unknown"),
        ({"recipient": "payment_processor", "purpose": "communication.marketing",
          "categories": ["account.email"]}, "sharing.allowed_purposes"),
        ({"recipient": "email_delivery", "purpose": "service_provision",
          "categories": ["account.email", "account.phone"]},
         "recipients.email_delivery.categories"),
        ({"recipient": "payment_processor", "purpose": "service_provision",
          "categories": ["account.shoe_size_xyz"]}, "policy.categories.unknown"),
        ({"recipient": "authorities", "purpose": "legal_obligation",
          "categories": ["account.name"]}, "recipients.authorities.legal_reference_required"),
        ({"recipient": "authorities", "purpose": "legal_obligation",
          "categories": ["account.name"], "reference": "  "},
         "recipients.authorities.legal_reference_required"),
    ],
)  # fmt: skip
def test_every_disallowed_request_is_refused_with_its_rule_and_nothing_is_disclosed(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], rule: str
) -> None:
    sid = ada_with_card(client, admin)
    response = disclose(client, admin, subjects=[sid], **body)
    assert response.status_code == 403
    assert_error(response.json(), "disclosure_refused")
    assert response.json()["error"]["details"]["rule"] == rule
    assert "_xyz" not in response.text  # submitted values are never echoed
    assert "quillfeather" not in response.text.lower()
    records = client.get("/v1/disclosures", headers=admin)
    assert [(r["people_disclosed"], r["people_refused"]) for r in records.json()] == [(0, 1)]
    assert "_xyz" not in records.text
    assert client.get(f"/v1/subjects/{sid}/disclosures", headers=admin).json() == []
    # Issue 20 item 24: the refused attempt is on the person's list, with its rule.
    refused = client.get(f"/v1/subjects/{sid}/disclosures?include_refused=true", headers=admin)
    assert [(x["outcome"], x["rule"], x["categories"]) for x in refused.json()] == [
        ("refused", rule, [])
    ]
    assert "_xyz" not in refused.text
    trail = client.get(f"/v1/audit?subject={sid}", headers=admin).json()["entries"]
    assert [(e["action"], e["outcome"]) for e in trail][-1] == ("disclosure.create", "refused")


def test_a_key_not_bound_to_the_purpose_or_without_the_scope_is_refused(
    client: TestClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    sid = ada_with_card(client, admin)
    wanted = {"recipient": "payment_processor", "purpose": "service_provision",
              "subjects": [sid], "categories": ["account.email"]}  # fmt: skip
    mailer = bearer(make_key(["disclosures:write"], ["communication.service"]))
    unbound = disclose(client, mailer, **wanted)
    assert unbound.status_code == 403
    assert_error(unbound.json(), "purpose_not_allowed")
    reader = bearer(make_key(["subjects:read"], ["*"]))
    assert_error(disclose(client, reader, **wanted).json(), "missing_scope")
    assert client.get("/v1/disclosures", headers=reader).status_code == 403
    assert client.get("/v1/ropa", headers=reader).status_code == 403
    assert client.get("/v1/disclosures", headers=admin).json() == []


def test_people_are_reported_one_by_one(client: TestClient, admin: dict[str, str]) -> None:
    ada = ada_with_card(client, admin)
    bo = person(client, admin, name="Bo Tumbleweed", email="bo@example.com")
    assert client.post(f"/v1/subjects/{bo}/close", headers=admin).status_code == 200
    nobody = "00000000-0000-4000-8000-000000000000"
    response = disclose(
        client, admin, recipient="payment_processor", purpose="service_provision",
        subjects=[ada, bo, nobody], categories=["account.email"],
    )  # fmt: skip
    assert response.status_code == 201
    outcomes = [(p["outcome"], p["rule"], p["data"]) for p in response.json()["people"]]
    assert outcomes == [
        ("disclosed", None, {"account.email": {"email": "ada.quillfeather@example.com"}}),
        ("refused", "subject.closed", {}),
        ("not_found", "subject.not_found", {}),
    ]
    refused = client.get(f"/v1/subjects/{bo}/disclosures?include_refused=true", headers=admin)
    assert [x["rule"] for x in refused.json()] == ["subject.closed"]
    missing = client.get(f"/v1/subjects/{nobody}/disclosures", headers=admin)
    assert missing.status_code == 404
    assert_error(missing.json(), "subject_not_found")


@pytest.mark.parametrize("subjects", [[], ["00000000-0000-4000-8000-000000000000"] * 501])
def test_the_list_of_people_is_bounded(
    client: TestClient, admin: dict[str, str], subjects: list[str]
) -> None:
    response = disclose(
        client, admin, recipient="payment_processor", purpose="service_provision",
        subjects=subjects, categories=["account.email"],
    )  # fmt: skip
    assert response.status_code == 422
    assert_error(response.json(), "validation_failed")


def test_a_correction_queues_a_notice_that_staff_acknowledge(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = ada_with_card(client, admin)
    disclose(
        client, admin, recipient="email_delivery", purpose="service_provision",
        subjects=[sid], categories=["account.email"],
    )  # fmt: skip
    patched = client.patch(
        f"/v1/subjects/{sid}", json={"email": "ada.q@example.net", "source": "person"},
        headers=admin,
    )  # fmt: skip
    assert patched.status_code == 200
    [notice] = client.get("/v1/propagations?status=pending", headers=admin).json()
    assert (notice["recipient_id"], notice["event"], notice["categories"]) == (
        "email_delivery", "rectification", ["account.email"],
    )  # fmt: skip
    assert (notice["status"], notice["state"], notice["delivery"]) == (
        "pending", "queued", "manual",
    )  # fmt: skip
    assert notice["overdue"] is False
    assert client.get("/v1/propagations?status=pending&overdue=true", headers=admin).json() == []

    done = client.post(f"/v1/propagations/{notice['id']}/acknowledge", headers=admin)
    assert done.status_code == 200
    assert done.json()["status"] == "acknowledged"
    assert done.json()["acknowledged_by"].startswith("api_key:")
    assert client.get("/v1/propagations", headers=admin).json() == []
    again = client.post(f"/v1/propagations/{notice['id']}/acknowledge", headers=admin)
    assert again.status_code == 409
    assert_error(again.json(), "propagation_state_conflict")
    retry = client.post(f"/v1/propagations/{notice['id']}/retry", headers=admin)
    assert retry.status_code == 409
    unknown = client.post(
        "/v1/propagations/00000000-0000-4000-8000-000000000000/acknowledge", headers=admin
    )
    assert unknown.status_code == 404
    assert_error(unknown.json(), "propagation_not_found")


def test_the_ropa_in_three_formats(client: TestClient, admin: dict[str, str]) -> None:
    sid = ada_with_card(client, admin)
    disclose(
        client, admin, recipient="payment_processor", purpose="service_provision",
        subjects=[sid], categories=["account.payment"],
    )  # fmt: skip
    document = client.get("/v1/ropa", headers=admin)
    assert document.status_code == 200
    body = document.json()
    assert body["controller"]["name"] == "IPTV Reseller"
    assert body["data_subjects"]["total"] == 1
    pay = next(r for r in body["recipients"] if r["id"] == "payment_processor")
    assert (pay["disclosures"], pay["people_disclosed"]) == (1, 1)
    assert body["security"]["audit"]["verified_at"] is None
    verified = client.get("/v1/ropa?verify=true", headers=admin).json()
    assert verified["security"]["audit"]["intact"] is True
    markdown = client.get("/v1/ropa?format=md", headers=admin)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "## (d) Recipients" in markdown.text
    html = client.get("/v1/ropa?format=html", headers=admin)
    assert html.headers["content-type"].startswith("text/html")
    assert "<h2>(g) Technical and organisational security measures</h2>" in html.text
    assert client.get("/v1/ropa?format=pdf", headers=admin).status_code == 422
