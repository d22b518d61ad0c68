"""Issue 17 item 3: a new sign-in address takes effect only once the code e-mailed to it is
entered on /me/details; the old address is told (without the code) when the change is asked
for and when it takes effect; the other details still change at once."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.comms import jobs as comms_jobs
from safehold.comms.models import OutboxItem
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from safehold.web.models import EmailChange
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import audited, field_error, post_form, sign_in
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture
from tests.integration.comms.smtp import SmtpServer

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture
OLD, NEW = "ada.quill@example.com", "ada.new@example.com"
CODE = re.compile(r"new sign-in address of your account at .+ is (\d{8})\.")
MINE = {"name": "Ada Quill", "phone": "+44 20 7946 0958"}


def _texts(smtp: SmtpServer, address: str) -> list[str]:
    out = []
    for message in smtp.inbox.to(address):
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        out.append(f"{message['subject']}\n{body.get_content()}")
    return out


def _ask(client: TestClient, runtime: Runtime, new: str, **more: str) -> None:
    answer = post_form(client, "/me/details", {**MINE, "email": new, **more})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/me/details?done=email_code"
    comms_jobs.run(runtime)


def _code(smtp: SmtpServer, address: str) -> str:
    found = CODE.search(_texts(smtp, address)[-1])
    assert found, "no code in the e-mail to the new address"
    return found.group(1)


def _confirm(client: TestClient, code: str) -> TestClient:
    return post_form(client, "/me/details/email", {"code": code}, page="/me/details")  # type: ignore[return-value]


def test_a_new_address_takes_effect_only_with_the_code_sent_to_it(
    signed_in: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    before = len(_texts(smtp, OLD))
    _ask(signed_in, runtime, NEW, street="1 Fictional Way", postal_code="AB1 2CD",
         city="Exampleton", country="GB")  # fmt: skip
    page = signed_in.get("/me/details?done=email_code")
    assert "We sent a code to your new e-mail address" in page.text
    assert f'value="{OLD}"' in page.text  # the account keeps its address until the code
    assert 'value="1 Fictional Way"' in page.text  # the other details changed at once
    assert "Confirm the new address" in page.text
    code = _code(smtp, NEW)
    told = _texts(smtp, OLD)[before:]
    assert len(told) == 1
    assert "asked to change its sign-in e-mail address" in told[0]
    assert code not in told[0]  # the old address is told, never given the code
    assert NEW not in told[0]
    wrong = _confirm(signed_in, "00000000" if code != "00000000" else "11111111")
    assert wrong.status_code == 422
    assert "not right" in field_error(wrong, "code")  # type: ignore[arg-type]
    right = _confirm(signed_in, code)
    assert right.status_code == 303  # type: ignore[attr-defined]
    page = signed_in.get("/me/details?done=email")
    assert f'value="{NEW}"' in page.text
    assert "Your new e-mail address is confirmed" in page.text
    comms_jobs.run(runtime)
    done = _texts(smtp, OLD)[before + 1 :]
    assert len(done) == 1
    assert "was changed on" in done[0]
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest.kind).where(DataRequest.subject_id == ada)).all()
        sealed = session.execute(
            select(OutboxItem.sealed_recipient, OutboxItem.recipient_index).where(
                OutboxItem.subject_id == ada
            )
        ).all()
    assert made == ["rectification", "rectification"]  # the address, then the email
    assert all(s == (None, None) for s in sealed)  # delivered: no address nor its index kept
    assert audited(runtime, ada, "subject.email_change.request")
    assert audited(runtime, ada, "subject.email_change.confirm")
    signed_in.post("/me/sign-out", data={}, follow_redirects=False)
    signed_in.cookies.clear()
    sign_in(signed_in, runtime, smtp, NEW)  # the new address signs in now


def test_the_code_expires_runs_out_and_is_limited_per_hour(
    signed_in: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    _ask(signed_in, runtime, NEW)
    code = _code(smtp, NEW)
    clock.advance(timedelta(minutes=11))
    late = _confirm(signed_in, code)
    assert late.status_code == 422
    assert "Ask for a new one" in late.text  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        assert session.scalars(select(EmailChange.used_at)).all() == [None]
    for _ in range(4):  # 5 codes in the hour: this is the fifth
        _ask(signed_in, runtime, NEW)
    sixth = post_form(signed_in, "/me/details", {**MINE, "email": NEW})
    assert sixth.status_code == 429
    assert "Too many changes in the last hour" in field_error(sixth, "email")
    code = _code(smtp, NEW)
    for _ in range(5):
        _confirm(signed_in, "00000000" if code != "00000000" else "11111111")
    spent = _confirm(signed_in, code)  # the right code after 5 wrong ones: refused
    assert spent.status_code == 422
    assert "Too many wrong codes" in spent.text  # type: ignore[attr-defined]
    assert f'value="{OLD}"' in signed_in.get("/me/details").text


def test_another_accounts_address_is_refused_before_any_code(
    signed_in: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    from tests.integration.comms.support import register

    register(runtime, "Bo Lark", "bo.lark@example.com")
    taken = post_form(signed_in, "/me/details", {**MINE, "email": "bo.lark@example.com"})
    assert taken.status_code == 422
    assert field_error(taken, "email") == "Another account already uses this e-mail address."
    with runtime.sessions() as session:
        assert not session.scalars(select(EmailChange)).all()


def test_the_service_sends_at_most_five_codes_an_hour_and_replaces_the_waiting_one(
    runtime: Runtime, ada: uuid.UUID
) -> None:
    """The change's own limit, apart from the page's per-person request limit (both 5)."""
    import pytest

    from safehold.access.rules import Actor
    from safehold.center import email_change, service
    from safehold.errors import RateLimited

    ctx = service.context(runtime)
    actor = Actor("subject", str(ada))
    with runtime.sessions() as session:
        for n in range(email_change.CODES_PER_HOUR):
            email_change.request_change(
                session, ctx, ada, actor=actor, new=f"ada.{n}@example.com", old=OLD
            )
        rows = session.scalars(select(EmailChange)).all()
        assert [bool(r.sealed_address) for r in rows].count(True) == 1  # each replaced the last
        assert email_change.pending(session, ctx, ada) is not None
        with pytest.raises(RateLimited):
            email_change.request_change(session, ctx, ada, actor=actor, new=NEW, old=OLD)
        session.rollback()


def test_erasure_removes_a_waiting_change_and_its_undelivered_mail_addresses(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    from safehold.access.rules import Actor
    from safehold.requests import jobs as erasure
    from safehold.requests import service as requests
    from safehold.requests.routes import context as request_context

    answer = post_form(signed_in, "/me/details", {**MINE, "email": NEW})
    assert answer.status_code == 303  # the code and the notice are queued, not yet sent
    ctx = request_context(runtime)
    with runtime.sessions() as session:
        made = requests.create(
            session, ctx, actor=Actor("subject", str(ada)), subject_id=ada, kind="erasure",
            channel="privacy_center", made_by="subject", send=False,
        )  # fmt: skip
        requests.verify_signed_in(session, ctx, made, actor=Actor("subject", str(ada)))
        session.commit()
    cert = erasure.erase(runtime.sessions, ctx, made.id)
    # The one address left: the completion e-mail's, under its own key (decision 0028).
    (completion,) = [uuid.UUID(k["ref"]) for k in cert["kept"] if k["kind"] == "completion_mail"]
    with runtime.sessions() as session:
        assert not session.scalars(select(EmailChange)).all()
        left = session.execute(
            select(OutboxItem.sealed_recipient, OutboxItem.recipient_index).where(
                OutboxItem.subject_id == ada, OutboxItem.id != completion
            )
        ).all()
    assert left
    assert all(row == (None, None) for row in left)
