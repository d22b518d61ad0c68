"""On a base URL with an IP address (the default, http://127.0.0.1:8000) browsers refuse
passkeys: the sign-in's and the list's passkey buttons say why (409) and record no
challenge; the code + TOTP sign-in works as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff.models import StaffPasskeyCeremony
from safehold.staff.rules import Role
from tests.e2e import passkey_support as p
from tests.e2e import staff_support as s
from tests.e2e.test_staff_passkeys import code_sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

ADDRESS = "olu.owner@example.com"
REASON = "Passkeys need a host name in SAFEHOLD_BASE_URL, not an IP address."


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp, base_url="http://127.0.0.1:8000")


def test_passkeys_on_an_ip_address_base_url_are_refused_with_the_reason(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    refused = p.begin_sign_in(client)
    assert refused.status_code == 409
    assert REASON in refused.text
    s.invite(runtime, ADDRESS, Role.OWNER, "Olu Owner")
    code_sign_in(client, runtime, smtp, ADDRESS)
    listing = client.get("/admin/passkeys")
    added = client.post("/admin/passkeys/new", data={"csrf_token": s.token(listing)})
    assert added.status_code == 409
    assert REASON in added.text
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(StaffPasskeyCeremony)) == 0
