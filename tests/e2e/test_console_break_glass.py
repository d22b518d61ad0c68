"""The API key's console sign-in is a break-glass path open only until an owner has joined:
then the sign-in page stops offering it, a key is refused (audited, the key not checked),
and a session begun with a key ends at once. Recovery afterwards is an owner's reset, or
`safehold staff reset-totp` on the server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safehold.access.rules import SCOPES, Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff import service
from safehold.staff.rules import Role
from tests.e2e import staff_support as s
from tests.e2e.conftest import MakeKey, audit_entries
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

OWNER = "olive.owner@example.com"
OFFERED = "Break-glass: sign in with an API key"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def key_sign_in(client: TestClient, token: str) -> tuple[int, str]:
    form = client.get("/admin/sign-in")
    data = {"csrf_token": s.token(form), "api_key": token, "next": "/admin"}
    answer = client.post("/admin/sign-in", data=data, follow_redirects=False)
    return answer.status_code, answer.text


def test_key_signs_in_until_an_owner_joins_then_never_and_its_session_ends(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, make_key: MakeKey
) -> None:
    token = make_key(list(SCOPES), ["*"], name="bootstrap")
    assert OFFERED in client.get("/admin/sign-in").text
    s.invite(runtime, OWNER, Role.OWNER, "Olive Owner")  # invited, not joined: still open
    assert key_sign_in(client, token)[0] == 303
    assert client.get("/admin/audit").status_code == 200
    assert client.get("/admin/staff").status_code == 403  # staff management: owners only

    owner = TestClient(client.app, raise_server_exceptions=False)
    s.join(owner, runtime, smtp, OWNER)

    assert client.get("/admin/audit", follow_redirects=False).status_code == 303  # ended
    client.cookies.clear()
    page = client.get("/admin/sign-in")
    assert OFFERED not in page.text
    assert 'action="/admin/sign-in"' not in page.text
    status, text = key_sign_in(client, token)
    assert status == 403
    assert "API keys no longer sign in to the console: an owner has joined." in text
    assert client.get("/admin", follow_redirects=False).status_code == 303
    closed = [e for e in audit_entries(runtime, "console.sign_in") if e.outcome == "closed"]
    assert len(closed) == 1
    assert closed[0].actor.startswith("api_key:")
    unknown = key_sign_in(client, "shk_aaaaaaaaaaaaa_" + "A" * 43)
    assert unknown[0] == 403  # the same answer: a closed path checks no key
    names = [e.actor for e in audit_entries(runtime, "console.sign_in") if e.outcome == "closed"]
    assert names[-1] == "system:console-sign-in"
    answers = [key_sign_in(client, token)[0] for _ in range(9)]  # the client's 10 refusals
    assert answers == [403] * 8 + [429]


def test_the_sole_owner_who_lost_their_app_is_reset_on_the_server_and_enrols_anew(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, OWNER, Role.OWNER, "Olive Owner")
    lost = s.join(client, runtime, smtp, OWNER)
    with transaction(runtime.sessions) as session:  # what `safehold staff reset-totp` runs
        service.reset_totp(session, service.context(runtime), OWNER, actor=Actor("admin", "cli"))
    assert client.get("/admin/staff", follow_redirects=False).status_code == 303
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    attempt, fresh = s.enrol(client, smtp, OWNER)
    assert fresh != lost
    assert s.post_step(client, "totp", attempt, s.totp(runtime, fresh)).status_code == 303
    assert client.get("/admin/staff").status_code == 200
    [entry] = [e for e in audit_entries(runtime, None) if e.action.startswith("staff.totp")]
    assert entry.actor == "admin:cli"
