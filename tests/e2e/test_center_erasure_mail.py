"""Issue 17 item 11: a deletion request is confirmed by e-mail with the certificate link
(built from SAFEHOLD_BASE_URL), and that link opens the certificate after the erasure,
without a sign-in."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.comms import jobs as comms_jobs
from safehold.comms.models import OutboxItem
from safehold.promises import service as promises
from safehold.requests import jobs as erasure
from safehold.requests.models import DataRequest
from safehold.requests.routes import context as request_context
from safehold.runtime import Runtime
from safehold.subjects.models import PersonalValue
from safehold.vault.models import DataKey
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
    before = signed_in.get("/me/delete").text
    assert "Your e-mail address, only to send you the e-mail that says the deletion" in before
    assert "at the latest 7 days after the deletion started" in before
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
    assert "When the deletion is done we e-mail you once more, with this link" in text
    cert = erasure.erase(runtime.sessions, request_context(runtime), made.id)
    assert cert["erased"]["mail_copies_deleted"] is None  # SMTP: the backend keeps no copies
    signed_in.cookies.clear()  # the account is gone: no sign-in is possible any more
    page = signed_in.get(link.removeprefix(BASE_URL))
    assert page.status_code == 200
    assert "Deletion certificate" in page.text
    assert "Nothing readable of the erased data" in page.text


def test_the_completion_is_mailed_with_the_link_and_then_nothing_readable_is_left(
    signed_in: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    """Decision 0028: delete in /me, the confirmation, the erasure, the completion e-mail
    with a working certificate link; then not even the address it went to is left."""
    assert post_form(signed_in, "/me/delete", {"confirm": "yes"}).status_code == 303
    comms_jobs.run(runtime)
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest).where(DataRequest.subject_id == ada)).one()
    cert = erasure.erase(runtime.sessions, request_context(runtime), made.id)
    (kept,) = [k for k in cert["kept"] if k["kind"] == "completion_mail"]
    signed_in.cookies.clear()
    page = signed_in.get(f"/me/requests/{made.id}/certificate?link=x")
    assert page.status_code != 200  # the link is what opens it, nothing else
    comms_jobs.run(runtime)
    done = [m for m in smtp.inbox.to("ada.quill@example.com")
            if m["subject"] == "Your deletion request has been carried out"]  # fmt: skip
    assert len(done) == 1
    body = done[0].get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    found = LINK.search(text)
    assert found, text
    assert f"reference {str(made.id)[:8]}" in text
    page = signed_in.get(found.group(1).removeprefix(BASE_URL))
    assert page.status_code == 200
    assert "Nothing readable of the erased data" in page.text
    assert "only to send you the e-mail that says this deletion was carried out" in page.text
    with runtime.sessions() as session:
        keys = session.scalars(select(DataKey.retention_class).where(DataKey.subject_id == ada))
        assert kept["classes"][0] not in set(keys)
        item = session.get(OutboxItem, (ada, uuid.UUID(kept["ref"])))
        assert item is not None
        assert (item.status, item.sealed_recipient, item.recipient_index) == ("sent", None, None)
        values = session.scalars(select(PersonalValue).where(PersonalValue.subject_id == ada))
        assert "account.email" not in {v.category for v in values}
    with runtime.sessions() as session:
        results = promises.run(session, runtime.policy, runtime.clock.now())
    assert next(r for r in results if r.id == "erasure.only_what_the_certificate_keeps").held
