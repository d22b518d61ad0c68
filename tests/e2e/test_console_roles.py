"""Every console route checks the role: a member of each role walks every /admin route the
app serves (GET as a browser, POST with a valid CSRF token) and is refused exactly those whose
scope their role lacks — staff management, an owner's alone. The table below must name every
route: a new route without a check, or without a row here, fails."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from safehold.access.rules import holds
from safehold.config import Settings
from safehold.runtime import Runtime
from safehold.staff import rules
from safehold.staff.rules import Role
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

OWNER = "owner"  # the row's check is the owner role, not a scope
PUBLIC = {"/admin/sign-in", "/admin/sign-in/email", "/admin/sign-in/code",
          "/admin/sign-in/totp", "/admin/sign-out", "/admin/sign-in/passkey",
          "/admin/sign-in/passkey/verify", "/admin/sign-in/passkey/register",
          "/admin/sign-in/oidc", "/admin/sign-in/oidc/callback"}  # fmt: skip
REQ = "/admin/requests/{request_id}"
CHECKS: dict[tuple[str, str], str | None] = {
    ("GET", "/admin"): None,
    ("GET", "/admin/requests"): "requests:open",
    ("GET", REQ): "requests:open",
    **{("POST", f"{REQ}/{action}"): "requests:open"
       for action in ("code", "verify", "extend", "reject", "access", "objection",
                      "rectification", "restriction", "restriction/lift-notice",
                      "restriction/lift", "assignee", "notes")},
    ("POST", f"{REQ}/erasure"): "requests:execute",  # carrying out an erasure (decision 0040)
    ("GET", f"{REQ}/certificate"): "requests:open",
    ("GET", f"{REQ}/certificate.json"): "requests:open",
    ("GET", "/admin/people"): "subjects:read",
    ("POST", "/admin/people"): "subjects:read",
    ("GET", "/admin/people/{subject_id}"): "subjects:read",
    ("POST", "/admin/people/{subject_id}/requests"): "requests:open",
    ("POST", "/admin/people/{subject_id}/holds"): "holds:write",
    ("GET", "/admin/retention"): "holds:write",
    ("GET", "/admin/audit"): "audit:read",
    ("GET", "/admin/promises"): "audit:read",
    ("POST", "/admin/promises"): "audit:read",  # runs the checks: writes only their result
    ("GET", "/admin/messages"): "messages:admin",
    ("POST", "/admin/messages/{message_id}/requeue"): "messages:admin",
    ("GET", "/admin/policy"): "policy:admin",
    ("POST", "/admin/policy"): "policy:admin",
    ("POST", "/admin/policy/publish"): "policy:admin",
    ("GET", "/admin/policy/versions/{seq}/withdraw"): "policy:admin",
    ("POST", "/admin/policy/versions/{seq}/withdraw"): "policy:admin",
    ("GET", "/admin/ropa"): "ropa:read",
    ("GET", "/admin/analytics"): "analytics:read",
    ("GET", "/admin/staff"): OWNER,
    ("POST", "/admin/staff"): OWNER,
    ("GET", "/admin/staff/{member_id}"): OWNER,
    ("POST", "/admin/staff/{member_id}/role"): OWNER,
    ("POST", "/admin/staff/{member_id}/remove"): OWNER,
    ("POST", "/admin/staff/{member_id}/totp-reset"): OWNER,
    ("POST", "/admin/staff/{member_id}/passkey-reset"): OWNER,
    ("POST", "/admin/staff/{member_id}/sessions/{session_id}/revoke"): OWNER,
    # A member's own passkeys: every member, whatever the role.
    ("GET", "/admin/passkeys"): None,
    ("POST", "/admin/passkeys/new"): None,
    ("POST", "/admin/passkeys/add"): None,
    ("POST", "/admin/passkeys/{passkey_id}/remove"): None,
}  # fmt: skip
PARAM = re.compile(r"\{(\w+)\}")
REFUSALS = ("missing_scope", "staff_owner_only")


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def routes_of(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route, through included routers (the console's are included without a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from routes_of(route.original_router.routes)


def served(client: TestClient) -> set[tuple[str, str]]:
    app: Any = client.app
    console = [r for r in routes_of(app.routes) if f"{r.path}/".startswith("/admin/")]
    return {(m, r.path) for r in console if r.path not in PUBLIC for m in r.methods - {"HEAD"}}


def concrete(path: str) -> str:
    values = {"seq": "1", "session_id": "0" * 64}
    return PARAM.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


def walk(client: TestClient) -> set[tuple[str, str]]:
    """The routes this client is refused for its role (403 naming the scope or the owner)."""
    csrf = s.token(client.get("/admin"))
    refused = set()
    for method, path in sorted(CHECKS):
        url = concrete(path)
        if method == "GET":
            answer = client.get(url, follow_redirects=False)
        else:
            answer = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code < 500, (method, path, answer.status_code)
        assert answer.status_code != 303 or "sign-in" not in answer.headers["location"], path
        if answer.status_code == 403 and any(code in answer.text for code in REFUSALS):
            refused.add((method, path))
    return refused


def test_the_table_names_every_console_route(client: TestClient) -> None:
    assert served(client) == set(CHECKS)


def test_each_role_is_refused_exactly_what_its_grant_lacks(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    allowed_by_role: dict[Role, set[tuple[str, str]]] = {}
    for role in Role:
        address = f"{role.value.replace('_', '.')}@example.com"
        s.invite(runtime, address, role, f"Test {role.value}")
        member = TestClient(client.app, raise_server_exceptions=False)
        s.join(member, runtime, smtp, address)
        grant = rules.ROLES[role]
        expected = {
            route for route, check in CHECKS.items()
            if check is not None and (role != Role.OWNER if check == OWNER
                                      else not holds(grant.scopes, check))
        }  # fmt: skip
        assert walk(member) == expected, role
        allowed_by_role[role] = set(CHECKS) - expected

    # What the issue asks of each role, read off the answers above (a member's own passkeys
    # aside: every role manages those).
    own = {route for route in CHECKS if route[1].startswith("/admin/passkeys")}
    assert allowed_by_role[Role.ANALYST] - own == {("GET", "/admin"), ("GET", "/admin/analytics")}
    auditor_posts = {r for r in allowed_by_role[Role.AUDITOR] - own if r[0] == "POST"}
    assert auditor_posts == {("POST", "/admin/promises")}  # read-only but for running checks
    agent = allowed_by_role[Role.SUPPORT_AGENT] - own
    assert {r for r in agent if not r[1].startswith("/admin/requests")} == {
        ("GET", "/admin"), ("GET", "/admin/people"), ("POST", "/admin/people"),
        ("GET", "/admin/people/{subject_id}"), ("POST", "/admin/people/{subject_id}/requests"),
    }  # fmt: skip
    assert ("POST", f"{REQ}/notes") in agent  # requests on a person's behalf ...
    assert ("POST", f"{REQ}/erasure") not in agent  # ... but no erasure carried out
    assert all(allowed >= own for allowed in allowed_by_role.values())
    assert allowed_by_role[Role.OWNER] == set(CHECKS)
