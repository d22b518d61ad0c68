"""Restriction of processing (GDPR Art. 18), the whole way: asked for in /me and through the
API, applied in the console and the CLI, refusing marketing and disclosures with
``subject.restricted``, telling the recipients and the person, shown on /me, and lifted only
after the person was e-mailed — everything through HTTP, the command line and a real SMTP
sink."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from safehold import migrate
from safehold.access.rules import SCOPES
from safehold.app import create_app
from safehold.cli import app as cli
from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.config import load_settings
from safehold.policy import capabilities
from safehold.runtime import Runtime, build_runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_console import post as console_post
from tests.e2e.test_console import sign_in as console_sign_in
from tests.e2e.test_privacy_center import post_form, sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL, MAIL_FROM, MAILTO
from tests.integration.requests.support import code_sent, person

runner = CliRunner()


@pytest.fixture
def runtime(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """One Safehold the app and the CLI share: the same data directory, database and keys."""
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    for name, value in {
        "DATA_DIR": str(tmp_path / "var"), "BASE_URL": BASE_URL, "MAIL_FROM": MAIL_FROM,
        "MAIL_UNSUBSCRIBE_MAILTO": MAILTO, "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
    }.items():  # fmt: skip
        monkeypatch.setenv(f"SAFEHOLD_{name}", value)
    built = build_runtime(load_settings())
    migrate.upgrade(built.engine)
    yield built
    built.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as c:
        yield c


def deliver(runtime: Runtime) -> None:
    mailer = SmtpMailer.from_settings(runtime.settings)
    try:
        while comms_jobs.deliver(runtime.sessions, comms.context(runtime), mailer).claimed:
            pass
    finally:
        mailer.close()


def mail_text(smtp: SmtpServer, email: str, subject: str) -> str:
    found = [m for m in smtp.inbox.to(email) if m["subject"] == subject]
    assert len(found) == 1, [m["subject"] for m in smtp.inbox.to(email)]
    body = found[0].get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def events_of(client: TestClient, key: str, sid: uuid.UUID) -> list[tuple[str, str]]:
    listed = client.get(
        "/v1/propagations", params={"status": "all", "subject": str(sid)}, headers=bearer(key)
    )
    assert listed.status_code == 200, listed.text
    return [(p["recipient_id"], p["event"]) for p in listed.json()]


def test_restriction_from_request_to_lift(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, make_key: MakeKey
) -> None:
    key = make_key(list(SCOPES), ["*"])
    ada = person(runtime, "Ada")  # her e-mail address went to the e-mail delivery processor
    bob = person(runtime, "Bob")

    # The person asks in /me; the back end asks through the API for another.
    staff = client  # the person's and the staff's sessions are separate cookies
    sign_in(client, runtime, smtp, "ada@example.com")
    assert "Ask us to restrict processing" in client.get("/me/restrict").text
    asked = post_form(client, "/me/restrict", {})
    assert asked.status_code == 303
    waiting = client.get(asked.headers["location"]).text
    assert "Your request to restrict processing is confirmed" in waiting
    assert re.search(r"Our staff\s+decide it by \d{4}-\d{2}-\d{2} at the latest", waiting)
    mine = client.get("/v1/requests", params={"subject_id": str(ada)}, headers=bearer(key))
    ada_request = next(r for r in mine.json() if r["kind"] == "restriction")
    assert ada_request["status"] == "verified"

    opened = client.post(
        "/v1/requests", json={"subject_id": str(bob), "kind": "restriction"}, headers=bearer(key)
    )
    assert opened.status_code == 201, opened.text
    bob_request = opened.json()["id"]
    with runtime.sessions() as session:
        code = code_sent(runtime, session, bob)
    verified = client.post(
        f"/v1/requests/{bob_request}/verification", json={"code": code}, headers=bearer(key)
    )
    assert verified.json()["status"] == "verified"

    # Staff apply Ada's in the console and Bob's with the CLI.
    assert console_sign_in(staff, key).status_code == 303
    page = f"/admin/requests/{ada_request['id']}"
    no_ground = console_post(staff, page, f"{page}/restriction", {"reason": ""})
    assert no_ground.status_code == 422
    applied = console_post(staff, page, f"{page}/restriction", {"reason": "accuracy_contested"})
    assert applied.status_code == 303, applied.text
    assert "Processing is restricted" in staff.get(applied.headers["location"]).text
    by_cli = runner.invoke(cli, ["requests", "restrict", bob_request, "--reason", "legal_claims"])
    assert by_cli.exit_code == 0, by_cli.output
    assert "restricted since" in by_cli.output

    # Marketing is not sent, a marketing read and a disclosure are refused.
    read = client.get(
        f"/v1/subjects/{bob}", params={"purpose": "communication.marketing"}, headers=bearer(key)
    )
    assert read.status_code == 403
    assert read.json()["error"]["details"]["rule"] == "subject.restricted"
    shared = client.post(
        "/v1/disclosures", headers=bearer(key),
        json={"recipient": "payment_processor", "purpose": "service_provision",
              "subjects": [str(ada)], "categories": ["account.email"]},
    )  # fmt: skip
    assert shared.status_code == 201, shared.text
    assert "subject.restricted" in shared.text
    news = client.post(
        "/v1/messages", headers=bearer(key),
        json={"kind": "marketing", "audience": {"subject_ids": [str(ada), str(bob)]},
              "subject": "News", "text": "Hello {{ name }}"},
    )  # fmt: skip
    assert news.json()["reasons"] == {"subject.restricted": 2}

    # The recipient and the person are told; the person sees it on /me.
    assert ("email_delivery", "restriction") in events_of(client, key, ada)
    deliver(runtime)
    told = mail_text(smtp, "ada@example.com", "Processing of your data is restricted")
    assert "We will e-mail you before we lift the restriction." in told
    overview = client.get("/me").text
    assert "Processing of your data is restricted" in overview
    assert "because the person contests the accuracy of their data" in overview

    # Lifting waits for the e-mail telling the person.
    early = console_post(staff, page, f"{page}/restriction/lift", {})
    assert early.status_code == 409
    assert "Tell the person first" in early.text
    notice = runner.invoke(
        cli, ["requests", "lift-notice", ada_request["id"], "--reason", "accuracy_checked"]
    )
    assert notice.exit_code == 0, notice.output
    assert "we e-mailed you that we will lift" not in client.get("/me").text  # not sent yet
    not_yet = runner.invoke(cli, ["requests", "lift", ada_request["id"]])
    assert not_yet.exit_code != 0
    assert "has not been sent yet" in not_yet.output
    deliver(runtime)
    lifting = mail_text(smtp, "ada@example.com", "We are lifting the restriction")
    assert "because the accuracy of the data was checked" in lifting
    assert "we e-mailed you that we will lift" in client.get("/me").text
    lifted = console_post(staff, page, f"{page}/restriction/lift", {})
    assert lifted.status_code == 303, lifted.text
    assert "Processing of your data is restricted" not in client.get("/me").text
    assert events_of(client, key, ada)[-1] == ("email_delivery", "restriction_end")
    assert (
        client.get(
            f"/v1/subjects/{ada}", params={"purpose": "service_provision"}, headers=bearer(key)
        ).status_code
        == 200
    )


@pytest.mark.parametrize("kind", sorted(set(capabilities.REQUEST_KINDS.values())))
def test_every_registered_kind_can_be_opened_through_the_api(
    client: TestClient, runtime: Runtime, make_key: MakeKey, kind: str
) -> None:
    """What the validator lets a policy offer, the API opens: a request with a deadline."""
    key = make_key(["requests:write"], ["*"])
    sid = person(runtime, "Cleo")
    purpose = {"purpose": "platform_improvement"} if kind == "objection" else {}
    opened = client.post(
        "/v1/requests", json={"subject_id": str(sid), "kind": kind, **purpose},
        headers=bearer(key),
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    assert (opened.json()["kind"], opened.json()["status"]) == (kind, "received")
    assert opened.json()["deadline_at"] > opened.json()["received_at"]


def test_the_rendered_policy_says_what_a_restriction_does(client: TestClient) -> None:
    page = client.get("/policy").text
    assert "restriction of processing (we then use your information only where the law" in page


def test_api_clients_cannot_send_rights_notices(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    """The legal_obligation kind that reaches restricted people is Safehold's own."""
    key = make_key(["messages:send"], ["legal_obligation"])
    sid = person(runtime, "Dora")
    sent = client.post(
        "/v1/messages", headers=bearer(key),
        json={"kind": "rights_notice", "audience": {"subject_ids": [str(sid)]},
              "subject": "Hi", "text": "Hello {{ name }}"},
    )  # fmt: skip
    assert sent.status_code == 422
    assert sent.json()["error"]["code"] == "unknown_message_kind"
