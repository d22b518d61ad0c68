"""The privacy center (/me) through HTTP: signing in with the code e-mailed to a real SMTP
sink, every page, the forms' errors next to their fields, and the walls between people."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.requests import jobs as erasure
from safehold.requests import service as requests
from safehold.requests.models import DataRequest
from safehold.requests.routes import context as request_context
from safehold.runtime import Runtime
from safehold.subjects import payments
from safehold.subjects import service as subjects
from safehold.web import jobs as web_jobs
from safehold.web import rules as web_rules
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, register

CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')
CODE = re.compile(r"sign in to the privacy center is (\d{8})")


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    """The e2e runtime, delivering its e-mail to the loopback SMTP sink."""
    return comms_settings(tmp_path, smtp)


def token(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def post_form(
    client: TestClient, path: str, data: dict[str, str], page: str | None = None
) -> Response:
    """GET the form's page (CSRF cookie and field), then POST it, not following redirects."""
    form = client.get(page or path)
    return client.post(path, data={**data, "csrf_token": token(form)}, follow_redirects=False)


def ask_code(client: TestClient, email: str) -> str:
    """Ask for a code; returns the attempt id the code page carries."""
    answer = post_form(client, "/me/sign-in", {"email": email, "next": "/me"})
    assert answer.status_code == 303, answer.text
    found = re.search(r"attempt=([0-9a-f-]{36})", answer.headers["location"])
    assert found
    return found.group(1)


def mailed_code(runtime: Runtime, smtp: SmtpServer, email: str) -> str:
    """Run the worker's sign-in job (which delivers what it queued), then read the newest
    code e-mailed to ``email``."""
    web_jobs.send_codes(runtime)
    messages = smtp.inbox.to(email)
    assert messages, "no e-mail reached the sink"
    body = messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    found = CODE.search(body.get_content())
    assert found, "the e-mail carries no code"
    return found.group(1)


def enter_code(client: TestClient, attempt: str, code: str) -> Response:
    page = f"/me/sign-in/code?attempt={attempt}"
    data = {"attempt": attempt, "code": code, "next": "/me"}
    return post_form(client, "/me/sign-in/code", data, page=page)


def sign_in(client: TestClient, runtime: Runtime, smtp: SmtpServer, email: str) -> Response:
    attempt = ask_code(client, email)
    answer = enter_code(client, attempt, mailed_code(runtime, smtp, email))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"
    return answer


@pytest.fixture
def ada(runtime: Runtime) -> uuid.UUID:
    return register(runtime, "Ada Quill", "ada.quill@example.com", phone="+44 20 7946 0958")


@pytest.fixture
def signed_in(client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID) -> TestClient:
    sign_in(client, runtime, smtp, "ada.quill@example.com")
    return client


def field_error(page: Response, name: str) -> str:
    """The error shown right after the field ``name`` (the form macros' markup)."""
    found = re.search(rf'id="f-{name}-error" role="alert">([^<]+)<', page.text)
    assert found, f"no error next to {name}"
    return found.group(1)


def audited(runtime: Runtime, subject_id: uuid.UUID, action: str) -> list[AuditEntry]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject_id == subject_id, AuditEntry.action == action
                )
            )
        )


# --- signing in and out ----------------------------------------------------------------------


def test_a_person_signs_in_with_the_mailed_code_and_gets_a_strict_cookie(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    assert client.get("/me", follow_redirects=False).headers["location"] == "/me/sign-in?next=%2Fme"
    answer = sign_in(client, runtime, smtp, "ada.quill@example.com")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{web_rules.COOKIES[web_rules.Kind.PERSON]}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/me" in cookie
    page = client.get("/me")
    assert page.status_code == 200
    assert "Ada Quill" in page.text
    assert "ada.quill@example.com" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_wrong_code_is_shown_next_to_the_field(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    attempt = ask_code(client, "ada.quill@example.com")
    real = mailed_code(runtime, smtp, "ada.quill@example.com")
    wrong = f"{(int(real) + 1) % 10**8:08d}"
    answer = enter_code(client, attempt, wrong)
    assert answer.status_code == 422
    assert "not right" in field_error(answer, "code")
    assert "safehold_me" not in answer.headers.get("set-cookie", "")
    assert enter_code(client, attempt, "12ab").status_code == 422
    assert enter_code(client, attempt, real).status_code == 303  # a wrong try does not spend it


def test_an_expired_code_is_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID, clock: FrozenClock
) -> None:
    attempt = ask_code(client, "ada.quill@example.com")
    code = mailed_code(runtime, smtp, "ada.quill@example.com")
    clock.advance(web_rules.SIGN_IN_CODE_TTL + timedelta(seconds=1))
    answer = enter_code(client, attempt, code)
    assert answer.status_code == 422
    assert "expired" in field_error(answer, "code")


def test_a_spent_code_cannot_sign_in_again(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    attempt = ask_code(client, "ada.quill@example.com")
    code = mailed_code(runtime, smtp, "ada.quill@example.com")
    assert enter_code(client, attempt, code).status_code == 303
    client.cookies.clear()
    again = enter_code(client, attempt, code)
    assert again.status_code == 422
    assert "Ask for a new one" in field_error(again, "code")
    assert client.get("/me", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused_with_a_page(signed_in: TestClient) -> None:
    answer = signed_in.post("/me/marketing", data={"receive": "no"}, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in answer.text


def test_signing_out_ends_the_session(signed_in: TestClient) -> None:
    answer = post_form(signed_in, "/me/sign-out", {}, page="/me")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me/sign-in"
    assert signed_in.get("/me", follow_redirects=False).status_code == 303


# --- the pages -------------------------------------------------------------------------------


def test_the_overview_says_what_is_held_why_who_received_it_and_how_long(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    page = signed_in.get("/me")
    assert page.status_code == 200
    text = page.text
    for expected in ("+442079460958", "Service provision", "90 days after the account is closed",
                     "Nobody outside", "How long we keep it", "Login times"):  # fmt: skip
        assert expected in text, expected
    reads = audited(runtime, ada, "subject.read")
    assert reads
    assert reads[-1].actor == f"subject:{ada}"
    assert reads[-1].purpose == "service_provision"


def test_correcting_details_is_a_rectification_request_done_at_once(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    """Everything but the sign-in address changes at once (the address waits for its code:
    tests/e2e/test_center_email_change.py)."""
    form = {"name": "Ada M. Quill", "email": "ada.quill@example.com", "phone": "+44 20 7946 0958"}
    answer = post_form(signed_in, "/me/details", form)
    assert answer.status_code == 303, answer.text
    page = signed_in.get(answer.headers["location"])
    assert 'value="Ada M. Quill"' in page.text
    assert "Your details are corrected" in page.text
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest).where(DataRequest.subject_id == ada)).one()
    assert (made.kind, made.status, made.made_by, made.channel) == (
        "rectification", "completed", "subject", "privacy_center")  # fmt: skip
    assert made.progress["verification"]["method"] == "privacy_center_sign_in"
    assert audited(runtime, ada, "subject.rectify.person")


@pytest.mark.parametrize("card", ["4111.1111.1111.1111", "4111\u00a01111\u00a01111\u00a01111"])
def test_a_card_number_in_a_form_is_refused_however_written(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID, card: str
) -> None:
    """Review 2026-12-07, D8: a dotted or no-break-spaced card was stored as the name."""
    form = {"name": card, "email": "ada.quill@example.com", "phone": "+44 20 7946 0958"}
    answer = post_form(signed_in, "/me/details", form)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "card_data_refused"
    assert not audited(runtime, ada, "subject.rectify.person")


def test_details_errors_are_shown_next_to_their_fields(
    signed_in: TestClient, runtime: Runtime
) -> None:
    register(runtime, "Bo Lark", "bo.lark@example.com")
    bad = post_form(
        signed_in, "/me/details", {"name": " ", "email": "not-an-address", "phone": "12"}
    )
    assert bad.status_code == 422
    assert field_error(bad, "name") == "Enter your name."
    assert "name@example.com" in field_error(bad, "email")
    assert "international form" in field_error(bad, "phone")
    assert 'value="not-an-address"' in bad.text  # what was typed stays in the form
    mine = {"name": "Ada Quill", "email": "ada.quill@example.com", "phone": "+44 20 7946 0958"}
    taken = post_form(signed_in, "/me/details", {**mine, "email": "bo.lark@example.com"})
    assert taken.status_code == 422
    assert field_error(taken, "email") == "Another account already uses this e-mail address."
    partial = post_form(signed_in, "/me/details", {**mine, "street": "1 Fictional Way"})
    assert partial.status_code == 422
    assert field_error(partial, "city") == "Fill in every part of the address."


def test_the_marketing_toggle_applies_at_once(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    assert "you <strong>receive</strong>" in signed_in.get("/me/marketing").text
    answer = post_form(signed_in, "/me/marketing", {"receive": "no"})
    assert answer.status_code == 303
    page = signed_in.get(answer.headers["location"])
    assert "you <strong>do not receive</strong>" in page.text
    assert audited(runtime, ada, "marketing.opted_out.privacy_center")
    missing = post_form(signed_in, "/me/marketing", {})
    assert missing.status_code == 422
    assert field_error(missing, "receive")


def test_the_devices_page_lists_devices_and_sign_ins(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    now = runtime.clock.now()
    sign_in = {"event_id": str(uuid.uuid4()), "subject_id": str(ada), "name": "login",
               "timestamp": (now - timedelta(minutes=5)).isoformat(), "properties": {}}  # fmt: skip
    batch = BatchIn.model_validate({"context": {"ip": "203.0.113.77"}, "events": [sign_in]})
    context = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        events.ingest(session, context, batch, actor=Actor("api_key", "iptv"), received_at=now)
    page = signed_in.get("/me/devices")
    assert page.status_code == 200
    assert "Your devices" in page.text
    assert "Recent sign-ins" in page.text
    assert "203.0.113.0/24" in page.text  # sealed in the database, opened for its owner
    assert audited(runtime, ada, "events.devices.read")
    assert audited(runtime, ada, "events.logins.read")


def test_the_export_gives_a_link_that_downloads_the_data(
    signed_in: TestClient, ada: uuid.UUID
) -> None:
    answer = post_form(signed_in, "/me/export", {})
    assert answer.status_code == 303
    page = signed_in.get("/me/export")
    link = re.search(r'href="(/exports/[^"?]+)"', page.text)
    assert link, "no download link on the page"
    assert "the link works until" in page.text
    data = signed_in.get(link.group(1))
    assert data.status_code == 200
    assert data.json()["subject"]["id"] == str(ada)
    summary = signed_in.get(link.group(1) + "?format=html")
    assert summary.status_code == 200
    assert "Ada Quill" in summary.text


def test_the_deletion_page_shows_the_plan_before_the_request(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    page = signed_in.get("/me/delete")
    assert "What we would erase" in page.text
    assert "Phone number" in page.text
    # never billed: nothing is kept for tax law (issue 17, item 6)
    assert "Invoices must show who was billed." not in page.text
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        payments.add(
            session, sctx, ada, actor=Actor("api_key", "billing"), processor="example-pay",
            token="pm_tok_example", brand="visa", last4="4242", exp_month=1, exp_year=2030,
        )  # fmt: skip
    page = signed_in.get("/me/delete")
    assert "Invoices must show who was billed." in page.text  # kept, with why and until when
    unticked = post_form(signed_in, "/me/delete", {})
    assert unticked.status_code == 422
    assert "Tick the box" in field_error(unticked, "confirm")
    answer = post_form(signed_in, "/me/delete", {"confirm": "yes"})
    assert answer.status_code == 303
    done = signed_in.get(answer.headers["location"])
    assert "Your deletion request is confirmed" in done.text
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest).where(DataRequest.kind == "erasure")).one()
    assert (made.status, made.made_by, made.channel) == ("verified", "subject", "privacy_center")
    assert f"/me/requests/{made.id}/certificate?link=" in done.text


def test_a_finished_erasure_certificate_opens_by_its_link_after_the_account_is_gone(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    post_form(signed_in, "/me/delete", {"confirm": "yes"})
    listing = signed_in.get("/me/requests")
    link = re.search(r'href="(/me/requests/[^"]+/certificate\?link=[^"]+)"', listing.text)
    assert link
    assert "Certificate (when done)" in listing.text
    not_yet = signed_in.get(link.group(1).replace("&amp;", "&"))
    assert "appears here once the deletion is done" in not_yet.text
    with runtime.sessions() as session:
        rid = session.scalars(select(DataRequest.id).where(DataRequest.subject_id == ada)).one()
    ctx = request_context(runtime)
    erasure.erase(runtime.sessions, ctx, rid)
    assert signed_in.get("/me", follow_redirects=False).status_code == 303  # signed out for good
    signed_in.cookies.clear()
    cert = signed_in.get(link.group(1).replace("&amp;", "&"))
    assert cert.status_code == 200
    assert "Deletion certificate" in cert.text
    assert "Nothing readable of the erased data" in cert.text
    forged = signed_in.get(f"/me/requests/{rid}/certificate?link=AAAA.BBBB")
    assert forged.status_code == 404
    assert "certificate_link_invalid" in forged.text


def test_the_policy_page_shows_what_was_accepted_and_what_is_in_force(
    signed_in: TestClient,
) -> None:
    page = signed_in.get("/me/policy")
    assert page.status_code == 200
    assert "In force now" in page.text
    assert "You accepted" in page.text


# --- one person never sees another's -------------------------------------------------------


def test_another_persons_request_and_certificate_are_not_found(
    signed_in: TestClient, runtime: Runtime
) -> None:
    other = register(runtime, "Cy Fern", "cy.fern@example.com")
    ctx = request_context(runtime)
    with transaction(runtime.sessions) as session:
        theirs = requests.create(
            session, ctx, actor=Actor("api_key", "crm"), subject_id=other,
            kind="erasure", channel="api", send=False,
        ).id  # fmt: skip
    answer = signed_in.get(f"/me/requests/{theirs}/certificate")
    assert answer.status_code == 404
    assert "request_not_found" in answer.text
    unknown = signed_in.get(f"/me/requests/{uuid.uuid4()}/certificate")
    assert unknown.status_code == 404
    for path in ("/me", "/me/details", "/me/requests", "/me/delete", "/me/export"):
        page = signed_in.get(path)
        assert "Cy Fern" not in page.text
        assert "cy.fern@example.com" not in page.text
        assert str(theirs) not in page.text


def test_no_page_puts_personal_data_in_a_url_or_is_served_without_a_session(
    client: TestClient, ada: uuid.UUID
) -> None:
    for path in ("/me", "/me/details", "/me/marketing", "/me/devices", "/me/export",
                 "/me/delete", "/me/requests", "/me/policy"):  # fmt: skip
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/me/sign-in?next=")
