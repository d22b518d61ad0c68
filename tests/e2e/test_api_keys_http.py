from __future__ import annotations

from fastapi.testclient import TestClient

from safehold.access.rules import SCOPES
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error


def test_no_key_or_a_bad_key_is_401(client: TestClient) -> None:
    missing = client.get("/v1/keys/me")
    assert missing.status_code == 401
    assert_error(missing.json(), "invalid_api_key")
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = client.get("/v1/keys/me", headers=bearer("shk_aaaaaaaaaaaaa_" + "b" * 43))
    assert bad.status_code == 401


def test_whoami_shows_scopes_and_purposes(client: TestClient, make_key: MakeKey) -> None:
    token = make_key(["subjects:read"], ["communication.service"], name="mailer")
    me = client.get("/v1/keys/me", headers=bearer(token)).json()
    assert me["name"] == "mailer"
    assert me["scopes"] == ["subjects:read"]
    assert me["purposes"] == ["communication.service"]
    assert "secret_hash" not in me


def test_missing_scope_is_403(client: TestClient, make_key: MakeKey) -> None:
    token = make_key(["subjects:read"], ["*"])
    response = client.get("/v1/keys", headers=bearer(token))
    assert response.status_code == 403
    assert_error(response.json(), "missing_scope")
    assert response.json()["error"]["details"]["required_scope"] == "keys:admin"


def test_a_key_bound_to_one_purpose_cannot_use_another(
    client: TestClient, make_key: MakeKey
) -> None:
    token = make_key(["policy:read"], ["communication.service"])
    allowed = client.post(
        "/v1/policy/evaluate",
        json={"purpose": "communication.service", "categories": ["account.email"]},
        headers=bearer(token),
    )
    assert allowed.status_code == 200
    assert allowed.json()["allowed"] == ["account.email"]
    refused = client.post(
        "/v1/policy/evaluate",
        json={"purpose": "service_provision", "categories": ["account.email"]},
        headers=bearer(token),
    )
    assert refused.status_code == 403
    assert_error(refused.json(), "purpose_not_allowed")


def test_evaluate_reports_the_rule_that_refused(client: TestClient, make_key: MakeKey) -> None:
    token = make_key(["policy:read"], ["*"])
    response = client.post(
        "/v1/policy/evaluate",
        json={
            "purpose": "communication.marketing",
            "categories": ["account.email"],
            "state": {"opted_out": ["communication.marketing"]},
        },
        headers=bearer(token),
    ).json()
    assert response["refused"] is True
    assert response["allowed"] == []
    assert "opt_out" in response["refused_rule"]


def test_keys_lifecycle_over_http(client: TestClient, make_key: MakeKey) -> None:
    admin = make_key(["keys:admin", "subjects:read"], ["service_provision"])
    created = client.post(
        "/v1/keys",
        json={"name": "reader", "scopes": ["subjects:read"], "purposes": ["service_provision"]},
        headers=bearer(admin),
    )
    assert created.status_code == 201
    new_token = created.json()["token"]
    assert client.get("/v1/keys/me", headers=bearer(new_token)).status_code == 200
    listed = client.get("/v1/keys", headers=bearer(admin)).json()
    assert all("token" not in k for k in listed)
    revoked = client.delete(f"/v1/keys/{created.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 200
    assert client.get("/v1/keys/me", headers=bearer(new_token)).status_code == 401


def test_keys_cannot_widen_their_own_scopes(client: TestClient, make_key: MakeKey) -> None:
    admin = make_key(["keys:admin"], ["service_provision"])
    wider = client.post(
        "/v1/keys",
        json={"name": "sneaky", "scopes": ["keys:admin", "audit:read"]},
        headers=bearer(admin),
    )
    assert wider.status_code == 403
    assert_error(wider.json(), "scope_escalation")
    more_purposes = client.post(
        "/v1/keys",
        json={"name": "sneaky", "scopes": ["keys:admin"], "purposes": ["*"]},
        headers=bearer(admin),
    )
    assert more_purposes.status_code == 403
    listed = client.get("/v1/keys", headers=bearer(admin)).json()
    assert [k["name"] for k in listed] == ["test"]


def test_a_narrow_admin_key_cannot_revoke_a_wider_key(
    client: TestClient, make_key: MakeKey
) -> None:
    everything = make_key(list(SCOPES), ["*"], name="bootstrap-admin")
    everything_id = client.get("/v1/keys/me", headers=bearer(everything)).json()["id"]
    narrow = make_key(["keys:admin", "subjects:read"], ["communication.marketing"])
    refused = client.delete(f"/v1/keys/{everything_id}", headers=bearer(narrow))
    assert refused.status_code == 403
    assert_error(refused.json(), "revocation_refused")
    assert {"audit:read", "purpose *"} <= set(refused.json()["error"]["details"]["not_held"])
    assert client.get("/v1/keys/me", headers=bearer(everything)).status_code == 200
    # The wider key may revoke the narrow one; the narrow one may revoke itself.
    other_narrow = make_key(["keys:admin", "subjects:read"], ["communication.marketing"])
    other_id = client.get("/v1/keys/me", headers=bearer(other_narrow)).json()["id"]
    assert client.delete(f"/v1/keys/{other_id}", headers=bearer(everything)).status_code == 200
    narrow_id = client.get("/v1/keys/me", headers=bearer(narrow)).json()["id"]
    assert client.delete(f"/v1/keys/{narrow_id}", headers=bearer(narrow)).status_code == 200
    assert client.get("/v1/keys/me", headers=bearer(narrow)).status_code == 401
