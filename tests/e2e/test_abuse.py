"""Abuse over HTTP: guessing a request's verification code fails (5 tries per code, then
the rate limit on checks for one request), flooding a person with requests or codes is
refused with 429 and Retry-After, and API keys cannot widen their own rights."""

from __future__ import annotations

from fastapi.testclient import TestClient

from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.integration.requests.support import code_sent, person


def _wrong(code: str, n: int) -> str:
    guess = f"{n:08d}"
    return guess if guess != code else f"{n + 1:08d}"


def test_guessing_a_verification_code_never_verifies(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["requests:write"]))
    sid = person(runtime)
    rid = client.post("/v1/requests", json={"subject_id": str(sid), "kind": "access"}, headers=auth)
    assert rid.status_code == 201, rid.text
    url = f"/v1/requests/{rid.json()['id']}"
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)

    answers = [
        client.post(f"{url}/verification", json={"code": _wrong(code, n)}, headers=auth)
        for n in range(5)
    ]
    assert [a.json()["error"]["code"] for a in answers] == ["verification_code_invalid"] * 5
    assert [a.json()["error"]["details"]["attempts_left"] for a in answers] == [4, 3, 2, 1, 0]
    # The code is dead after 5 wrong tries: even the right one is refused now.
    dead = client.post(f"{url}/verification", json={"code": code}, headers=auth)
    assert dead.status_code == 409
    assert_error(dead.json(), "verification_code_attempts_exhausted")

    # A new code resets the tries, but checks for one request are also rate limited
    # (requests.verify.request, 10 per 15 minutes): the 11th check is refused unseen.
    assert client.post(f"{url}/code", headers=auth).status_code == 202
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
    for n in range(4):
        wrong = client.post(f"{url}/verification", json={"code": _wrong(code, n)}, headers=auth)
        assert wrong.json()["error"]["code"] == "verification_code_invalid"
    limited = client.post(f"{url}/verification", json={"code": code}, headers=auth)
    assert limited.status_code == 429
    assert_error(limited.json(), "rate_limited")
    assert int(limited.headers["retry-after"]) == limited.json()["error"]["details"]["retry_after"]
    assert code not in limited.text
    state = client.get(url, headers=auth).json()
    assert state["status"] == "received"  # never verified
    assert state["code_attempts"] == 4  # the refused check did not even reach the code


def test_flooding_a_person_with_requests_or_codes_is_refused(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    auth = bearer(make_key(["requests:write"]))
    sid, other = person(runtime, "Bo"), person(runtime, "Cy")
    body = {"subject_id": str(sid), "kind": "access"}
    opened = [client.post("/v1/requests", json=body, headers=auth) for _ in range(5)]
    assert {r.status_code for r in opened} == {201}
    sixth = client.post("/v1/requests", json=body, headers=auth)
    assert sixth.status_code == 429
    assert_error(sixth.json(), "rate_limited")
    assert sixth.json()["error"]["details"]["limit"] == "requests.open.subject"
    assert 1 <= int(sixth.headers["retry-after"]) <= 3600
    # Another person is not affected by the first one's flood.
    assert (
        client.post("/v1/requests", json={**body, "subject_id": str(other)}, headers=auth)
    ).status_code == 201

    # Codes e-mailed about one person: 5 an hour across all their requests.
    first, second = (r.json()["id"] for r in opened[:2])
    resent = [client.post(f"/v1/requests/{rid}/code", headers=auth) for rid in [first] * 3]
    resent += [client.post(f"/v1/requests/{second}/code", headers=auth) for _ in range(2)]
    assert [r.status_code for r in resent] == [202] * 5
    flood = client.post(f"/v1/requests/{second}/code", headers=auth)
    assert flood.status_code == 429
    assert flood.json()["error"]["details"]["limit"] == "requests.code.subject"


def test_the_429_is_in_the_openapi_document_with_the_error_shape(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/v1/requests", "/v1/requests/{request_id}/code"]:
        declared = paths[path]["post"]["responses"]["429"]
        ref = declared["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorOut")
    verification = paths["/v1/requests/{request_id}/verification"]["post"]["responses"]
    assert "429" in verification


def test_a_key_cannot_widen_itself_through_the_keys_it_makes(
    client: TestClient, make_key: MakeKey
) -> None:
    admin = make_key(["keys:admin", "subjects:read"], ["service_provision"])
    child = client.post(
        "/v1/keys",
        json={"name": "child", "scopes": ["keys:admin"], "purposes": ["service_provision"]},
        headers=bearer(admin),
    )
    assert child.status_code == 201, child.text
    child_token = child.json()["token"]
    # The child holds less than its parent; it cannot get back what it lacks, not even by
    # asking for what its parent holds, nor for "every purpose".
    for body in [
        {"name": "grandchild", "scopes": ["keys:admin", "subjects:read"]},
        {"name": "grandchild", "scopes": ["keys:admin"], "purposes": ["*"]},
        {"name": "grandchild", "scopes": ["keys:admin"], "purposes": ["communication.marketing"]},
    ]:
        refused = client.post("/v1/keys", json=body, headers=bearer(child_token))
        assert refused.status_code == 403, body
        assert_error(refused.json(), "scope_escalation")
    # A key without keys:admin cannot make keys at all, and a revoked key cannot either.
    reader = make_key(["subjects:read"], ["*"])
    no_admin = client.post(
        "/v1/keys", json={"name": "x", "scopes": ["subjects:read"]}, headers=bearer(reader)
    )
    assert no_admin.status_code == 403
    assert_error(no_admin.json(), "missing_scope")
    revoked = client.delete(f"/v1/keys/{child.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 200
    after = client.post(
        "/v1/keys", json={"name": "late", "scopes": ["keys:admin"]}, headers=bearer(child_token)
    )
    assert after.status_code == 401
    # There is no way to change a key's rights in place: only create (narrower) and revoke.
    me = client.get("/v1/keys/me", headers=bearer(admin)).json()
    for method in ["PATCH", "PUT"]:
        changed = client.request(
            method, f"/v1/keys/{me['id']}", json={"scopes": ["audit:read"]}, headers=bearer(admin)
        )
        assert changed.status_code == 405
    assert client.get("/v1/keys/me", headers=bearer(admin)).json()["scopes"] == me["scopes"]
