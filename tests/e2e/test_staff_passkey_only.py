"""SAFEHOLD_STAFF_2FA=passkey: a member without a passkey signs in with the codes once more,
and that sign-in ends on registering one (no session before); from then on the codes are
refused for them and only the passkey signs them in. The sign-in page says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff import service
from safehold.staff.rules import Role
from tests.e2e import passkey_support as p
from tests.e2e import staff_support as s
from tests.e2e.test_staff_passkeys import stored
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

OFFICER = "priya.officer@example.com"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp, staff_2fa="passkey")


def test_the_codes_end_on_registering_a_passkey_which_is_then_the_only_way_in(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    assert "This console takes passkeys" in client.get("/admin/sign-in").text
    member = s.invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Priya Officer")
    attempt, secret = s.enrol(client, smtp, OFFICER)
    page = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert page.status_code == 200, page.text
    assert "This console signs staff in with passkeys only." in page.text
    assert "safehold_admin=" not in page.headers.get("set-cookie", "")
    assert client.get("/admin", follow_redirects=False).status_code == 303  # no session yet

    ceremony, options = p.ceremony_of(page)
    passkey = p.SoftPasskey()
    data = {"csrf_token": s.token(page), "ceremony": ceremony, "name": "Phone",
            "credential": passkey.create(options), "next": "/admin"}  # fmt: skip
    done = client.post("/admin/sign-in/passkey/register", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert "safehold_admin=" in done.headers["set-cookie"]
    assert "Signed in as <strong>Priya Officer</strong>" in client.get("/admin").text
    assert [k.name for k in stored(runtime, member.id)] == ["Phone"]

    client.cookies.clear()
    again = client.post("/admin/sign-in/passkey/register", data={**data, "csrf_token":
                        s.token(client.get("/admin/sign-in"))})  # fmt: skip
    assert again.status_code == 422  # the registration's ceremony is spent
    attempt = s.attempt_of(s.ask_code(client, OFFICER))
    refused = s.post_step(client, "code", attempt, s.mailed_code(smtp, OFFICER))
    assert refused.status_code == 422
    assert "This console takes your passkey: use &#39;Sign in with a passkey&#39;." in refused.text
    skipped = s.post_step(client, "totp", attempt, s.totp(runtime, secret, seconds=30))
    assert skipped.status_code == 422  # the code step did not pass
    assert "Enter the e-mailed code first." in skipped.text

    with transaction(runtime.sessions) as session:  # a code step passed before the passkey
        ctx = service.context(runtime)
        early = service.request_code(session, ctx, OFFICER)
        service.check_code(session, ctx, early, s.mailed_code(smtp, OFFICER))
    late = s.post_step(client, "totp", str(early), s.totp(runtime, secret, seconds=30))
    assert late.status_code == 422
    assert "This console takes your passkey" in late.text
    assert client.get("/admin", follow_redirects=False).status_code == 303
    assert p.sign_in(client, passkey).status_code == 303
