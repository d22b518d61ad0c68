"""Issue 17 item 11: a deletion request is confirmed by e-mail with the certificate link
(built from SAFEHOLD_BASE_URL), and that link opens the certificate after the erasure,
without a sign-in."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.comms import jobs as comms_jobs
from safehold.requests import jobs as erasure
from safehold.requests.models import DataRequest
from safehold.requests.routes import context as request_context
from safehold.runtime import Runtime
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import post_form
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture
LINK = re.compile(r"(https://\S+/me/requests/[0-9a-f-]{36}/certificate\?link=[A-Za-z0-9_.-]+)")


def test_the_deletion_request_is_confirmed_by_mail_with_a_link_that_outlives_the_account(
    signed_in: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    answer = post_form(signed_in, "/me/delete", {"confirm": "yes"})
    assert answer.status_code == 303
    assert "we are e-mailing you the confirmation" in signed_in.get(answer.headers["location"]).text
    comms_jobs.run(runtime)
    mails = [m for m in smtp.inbox.to("ada.quill@example.com")
             if m["subject"] == "We received your request to delete your data"]  # fmt: skip
    assert len(mails) == 1
    body = mails[0].get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    found = LINK.search(text)
    assert found, text
    link = found.group(1)
    assert link.startswith(f"{BASE_URL}/me/requests/")  # SAFEHOLD_BASE_URL, not the website
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest).where(DataRequest.subject_id == ada)).one()
    assert f"/me/requests/{made.id}/" in link
    assert f"reference {str(made.id)[:8]}" in text
    cert = erasure.erase(runtime.sessions, request_context(runtime), made.id)
    assert cert["erased"]["mail_copies_deleted"] is None  # SMTP: the backend keeps no copies
    signed_in.cookies.clear()  # the account is gone: no sign-in is possible any more
    page = signed_in.get(link.removeprefix(BASE_URL))
    assert page.status_code == 200
    assert "Deletion certificate" in page.text
    assert "Nothing readable of the erased data" in page.text
