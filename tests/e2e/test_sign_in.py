"""Sign-in to the privacy center (e-mailed code) and to the admin console (API key): the
forms, CSRF, the session cookie, codes that expire, run out or are spent, and sessions that
end when the person is erased or the key revoked."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from safehold.access import service as access
from safehold.access.models import AuditEntry
from safehold.app import create_app
from safehold.clock import FrozenClock
from safehold.comms import service as comms
from safehold.comms.models import OutboxItem
from safehold.db import make_engine, make_session_factory
from safehold.errors import RateLimited
from safehold.runtime import Runtime
from safehold.subjects.models import Subject
from safehold.web import rules, sessions, signin
from safehold.web.rules import Kind
from tests.e2e.conftest import MakeKey, audit_entries, bearer

EMAIL = "wren.calloway@example.com"
CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')
ATTEMPT = re.compile(r'name="attempt" value="([^"]*)"')


@pytest.fixture
def person(client: TestClient, make_key: MakeKey) -> str:
    headers = bearer(make_key(["subjects:write"], ["*"]))
    body = {"name": "Wren Calloway", "email": EMAIL, "marketing_opt_in": False}
    response = client.post("/v1/subjects", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def handle_attempts(runtime: Runtime) -> None:
    """The worker's sign-in job, less the delivery (no SMTP server here): codes are queued."""
    with runtime.sessions() as session:
        signin.handle_attempts(session, signin.context(runtime))
        session.commit()


def latest_code(runtime: Runtime, subject_id: str) -> str:
    """The code in the newest e-mail queued for the person, once the worker has run."""
    handle_attempts(runtime)
    with runtime.sessions() as session:
        item = session.scalars(
            select(OutboxItem)
            .where(OutboxItem.subject_id == uuid.UUID(subject_id))
            .order_by(OutboxItem.created_at.desc(), OutboxItem.id)
        ).first()
        assert item is not None, "no e-mail was queued"
        code = comms.open_secret(session, comms.context(runtime), item)
    assert code is not None
    assert len(code) == 8
    return code


def ask_for_code(client: TestClient, email: str = EMAIL) -> Response:
    token = csrf_of(client, "/me/sign-in")
    return client.post(
        "/me/sign-in", data={"email": email, "csrf_token": token}, follow_redirects=False
    )


def enter_code(client: TestClient, attempt: str, code: str) -> Response:
    token = csrf_of(client, f"/me/sign-in/code?attempt={attempt}")
    return client.post(
        "/me/sign-in/code",
        data={"attempt": attempt, "code": code, "csrf_token": token},
        follow_redirects=False,
    )


def attempt_of(response: Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/me/sign-in/code?")
    found = re.search(r"attempt=([0-9a-f-]{36})", location)
    assert found
    return found.group(1)


def test_a_person_signs_in_with_the_code_from_their_email(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    attempt = attempt_of(ask_for_code(client))
    answer = enter_code(client, attempt, latest_code(runtime, person))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{rules.COOKIES[Kind.PERSON]}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/me" in cookie
    token = client.cookies.get(rules.COOKIES[Kind.PERSON])
    with runtime.sessions() as session:
        signed_in = sessions.load(session, Kind.PERSON, token, now=runtime.clock.now())
    assert signed_in is not None
    assert str(signed_in.subject_id) == person


def test_a_closed_account_still_signs_in_to_use_its_rights(
    client: TestClient, runtime: Runtime, make_key: MakeKey, person: str
) -> None:
    """The sign-in finds the account whatever its state (the worker's ``web.sign_in`` job
    looks the address up by its blind index): a purpose's look-up would refuse a closed
    account, but its owner keeps their rights."""
    writer = bearer(make_key(["subjects:write"], ["service_provision"]))
    assert client.post(f"/v1/subjects/{person}/close", headers=writer).status_code == 200
    attempt = attempt_of(ask_for_code(client))
    answer = enter_code(client, attempt, latest_code(runtime, person))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"


def test_asking_for_a_code_looks_the_same_with_or_without_an_account(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    known = ask_for_code(client)
    unknown = ask_for_code(client, "nobody.here@example.com")
    assert known.status_code == unknown.status_code == 303
    page_known = client.get(known.headers["location"]).text
    page_unknown = client.get(unknown.headers["location"]).text
    assert CSRF.sub("", ATTEMPT.sub("", page_known)) == CSRF.sub("", ATTEMPT.sub("", page_unknown))
    refused = enter_code(client, attempt_of(unknown), latest_code(runtime, person))
    assert refused.status_code == 422  # a code is bound to its attempt


def test_a_wrong_code_is_shown_next_to_the_field_and_counted(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    attempt = attempt_of(ask_for_code(client))
    right = latest_code(runtime, person)
    wrong = "00000000" if right != "00000000" else "11111111"
    answer = enter_code(client, attempt, wrong)
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert 'id="f-code-error"' in answer.text
    assert "not right" in answer.text
    for _ in range(4):
        enter_code(client, attempt, wrong)
    exhausted = enter_code(client, attempt, right)  # five wrong tries use the code up
    assert exhausted.status_code == 422
    assert "Too many wrong codes" in exhausted.text


def test_a_code_works_once_and_expires(
    client: TestClient, runtime: Runtime, person: str, clock: FrozenClock
) -> None:
    attempt = attempt_of(ask_for_code(client))
    code = latest_code(runtime, person)
    assert enter_code(client, attempt, code).status_code == 303
    again = enter_code(client, attempt, code)
    assert again.status_code == 422
    assert "has been used" in again.text
    later = attempt_of(ask_for_code(client))
    code = latest_code(runtime, person)
    clock.advance(rules.SIGN_IN_CODE_TTL + timedelta(seconds=1))
    expired = enter_code(client, later, code)
    assert expired.status_code == 422
    assert "expired" in expired.text


def test_no_more_than_the_hourly_number_of_codes_is_sent(
    runtime: Runtime, person: str, clock: FrozenClock
) -> None:
    # Counted in the database, so it holds across processes and restarts (the in-memory
    # rate limit in front of it is per process).
    ctx = signin.context(runtime)
    with runtime.sessions() as session:
        for _ in range(rules.SIGN_IN_CODES_PER_HOUR + 2):
            signin.request_code(session, ctx, EMAIL.upper())
            signin.handle_attempts(session, ctx)
            clock.advance(timedelta(minutes=1))
        queued = session.scalars(
            select(OutboxItem).where(OutboxItem.subject_id == uuid.UUID(person))
        ).all()
        assert len(queued) == rules.SIGN_IN_CODES_PER_HOUR
        clock.advance(rules.SIGN_IN_CODE_WINDOW)
        signin.request_code(session, ctx, EMAIL)
        signin.handle_attempts(session, ctx)
        assert (
            session.scalar(select(func.count()).where(OutboxItem.subject_id == uuid.UUID(person)))
            == rules.SIGN_IN_CODES_PER_HOUR + 1
        )


def test_bad_input_is_shown_next_to_the_field(client: TestClient) -> None:
    token = csrf_of(client, "/me/sign-in")
    for value, message in [
        ("", "Enter the e-mail"),
        ("no-at-sign", "like name@example.com"),
        ("wr\u0435n.calloway@example.com", "one alphabet"),  # CYRILLIC SMALL LETTER IE
    ]:
        answer = client.post("/me/sign-in", data={"email": value, "csrf_token": token})
        assert answer.status_code == 422
        assert 'id="f-email-error"' in answer.text
        assert message in answer.text
    not_digits = client.post(
        "/me/sign-in/code",
        data={"attempt": str(uuid.uuid4()), "code": "12ab", "csrf_token": token},
    )
    assert not_digits.status_code == 422
    assert "8 digits" in not_digits.text


def test_a_form_without_its_csrf_token_is_refused_with_a_page(
    client: TestClient, person: str
) -> None:
    client.get("/me/sign-in")  # the browser has the cookie, the attacker's form no token
    for data in ({"email": EMAIL}, {"email": EMAIL, "csrf_token": "0" * 64},
                 {"email": EMAIL, "csrf_token": "ünïcode"}):  # fmt: skip
        answer = client.post("/me/sign-in", data=data)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        assert "csrf_rejected" in answer.text
        assert EMAIL not in answer.text


def test_sign_out_ends_the_session(client: TestClient, runtime: Runtime, person: str) -> None:
    attempt = attempt_of(ask_for_code(client))
    enter_code(client, attempt, latest_code(runtime, person))
    token = client.cookies.get(rules.COOKIES[Kind.PERSON])
    csrf = csrf_of(client, "/me/sign-in")
    out = client.post("/me/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    with runtime.sessions() as session:
        assert sessions.load(session, Kind.PERSON, token, now=runtime.clock.now()) is None


def test_a_session_ends_when_the_person_is_erased_or_idle(
    client: TestClient, runtime: Runtime, person: str, clock: FrozenClock
) -> None:
    attempt = attempt_of(ask_for_code(client))
    enter_code(client, attempt, latest_code(runtime, person))
    token = client.cookies.get(rules.COOKIES[Kind.PERSON])
    with runtime.sessions() as session:
        subject = session.get(Subject, uuid.UUID(person))
        assert subject is not None
        subject.status = "erased"
        session.flush()
        assert sessions.load(session, Kind.PERSON, token, now=clock.now()) is None
        session.rollback()
    clock.advance(rules.LIFETIMES[Kind.PERSON].idle)
    with runtime.sessions() as session:
        assert sessions.load(session, Kind.PERSON, token, now=clock.now()) is None


def staff_sign_in(client: TestClient, key: str) -> Response:
    token = csrf_of(client, "/admin/sign-in")
    return client.post(
        "/admin/sign-in", data={"api_key": key, "csrf_token": token}, follow_redirects=False
    )


def test_staff_sign_in_with_their_key_and_revoking_it_signs_them_out(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    key = make_key(["requests:write"], ["*"], name="Ada (support)")
    answer = staff_sign_in(client, key)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin"
    assert "Path=/admin" in answer.headers["set-cookie"]
    token = client.cookies.get(rules.COOKIES[Kind.STAFF])
    with runtime.sessions() as session:
        signed_in = sessions.load(session, Kind.STAFF, token, now=runtime.clock.now())
        assert signed_in is not None
        assert signed_in.api_key is not None
        access.revoke_key(session, signed_in.api_key.id, clock=runtime.clock)
        session.commit()
        assert sessions.load(session, Kind.STAFF, token, now=runtime.clock.now()) is None


def test_a_wrong_key_is_shown_next_to_the_field(client: TestClient) -> None:
    for value, message in [("", "Enter your API key"), ("shk_nope", "not valid")]:
        answer = staff_sign_in(client, value)
        assert answer.status_code == 422
        assert 'id="f-api_key-error"' in answer.text
        assert message in answer.text
        assert "shk_nope" not in answer.text  # what was typed is never shown back


def test_next_only_leads_within_the_same_area(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    page = client.get("/me/sign-in?next=https://evil.example.com/")
    assert 'name="next" value="/me"' in page.text
    page = client.get("/me/sign-in?next=/me/requests")
    assert 'name="next" value="/me/requests"' in page.text


def test_asking_for_codes_too_often_is_slowed_down_next_to_the_field(
    client: TestClient, person: str
) -> None:
    answers = [ask_for_code(client, "someone.else@example.com") for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [303] * 5  # neutral, account or not
    refused = answers[5]
    assert refused.status_code == 429
    assert 'id="f-email-error"' in refused.text
    assert "Try again in" in refused.text
    assert "someone.else@example.com" in refused.text  # their own input, kept in the field


def test_guessing_codes_from_one_client_is_slowed_down(client: TestClient, person: str) -> None:
    token = csrf_of(client, "/me/sign-in")
    statuses = [
        client.post(
            "/me/sign-in/code",
            data={"attempt": str(uuid.uuid4()), "code": "12345678", "csrf_token": token},
        ).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [422] * 30
    assert statuses[30] == 429


def test_a_persons_session_never_opens_the_admin_console(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    attempt = attempt_of(ask_for_code(client))
    enter_code(client, attempt, latest_code(runtime, person))
    token = client.cookies.get(rules.COOKIES[Kind.PERSON])
    assert token
    # Even presented under the console's cookie name, a person's session is not staff's.
    client.cookies.set(rules.COOKIES[Kind.STAFF], token, path="/admin")
    answer = client.get("/admin", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/sign-in")
    with runtime.sessions() as session:
        assert sessions.load(session, Kind.STAFF, token, now=runtime.clock.now()) is None


def test_an_error_page_keeps_the_errors_headers(runtime: Runtime) -> None:
    app = create_app(runtime)

    def limited() -> None:
        raise RateLimited("too many attempts; try again in 42 seconds", retry_after=42)

    app.add_api_route("/me/limited-for-this-test", limited)
    with TestClient(app) as client:
        answer = client.get("/me/limited-for-this-test")
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["retry-after"] == "42"
    assert "rate_limited" in answer.text


def staff_sign_in_attempts(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    entries = audit_entries(runtime, "console.sign_in")
    return [(e.actor, e.outcome, e.request_id) for e in entries]


def test_wrong_staff_keys_are_audited_and_slowed_down_per_client(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    key = make_key(["audit:read"], [], name="Ada (support)")
    _, key_id, secret = key.split("_", 2)  # the secret is base64url: it may hold "_"
    wrong_secret = f"shk_{key_id}_{'A' * 43}"
    unknown = f"shk_{'a' * 13}_{'B' * 43}"
    answers = [staff_sign_in(client, guess) for guess in [wrong_secret, unknown, "shk_nope"] * 4]
    assert [a.status_code for a in answers[:10]] == [422] * 10
    assert [a.status_code for a in answers[10:]] == [429, 429]
    assert "Try again in" in answers[10].text
    assert 'id="f-api_key-error"' in answers[10].text
    assert staff_sign_in(client, key).status_code == 429  # even the right key, from here
    attempts = staff_sign_in_attempts(runtime)
    assert len(attempts) == 10  # the refused ones, not those the limit stopped
    assert {(actor, outcome) for actor, outcome, _ in attempts} == {
        (f"api_key:{key_id}", "refused"),  # someone holds this key's id, not its secret
        ("system:console-sign-in", "refused"),  # an id nobody issued is not written down
    }
    assert all(request_id for _, _, request_id in attempts)
    with runtime.sessions() as session:
        text = " ".join(
            f"{e.actor} {e.action} {e.categories} {e.purpose} {e.request_id}"
            for e in session.scalars(select(AuditEntry))
        )
    assert secret not in text
    assert "A" * 43 not in text
    assert "a" * 13 not in text
    # Another client address has its own budget, and its sign-in is audited "ok".
    with TestClient(client.app, client=("192.0.2.10", 50000)) as elsewhere:
        assert staff_sign_in(elsewhere, key).status_code == 303
    assert staff_sign_in_attempts(runtime)[-1][:2] == (f"api_key:{key_id}", "ok")


def test_a_staff_sign_in_the_database_could_not_decide_uses_no_budget(
    client: TestClient, runtime: Runtime, make_key: MakeKey, tmp_path: Path
) -> None:
    key = make_key(["audit:read"], [], name="Ada (support)")
    token = csrf_of(client, "/admin/sign-in")
    working = runtime.sessions
    unreachable = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path}/no-such-dir/x.db"))
    runtime.sessions = make_session_factory(unreachable)
    well_formed = f"shk_{'a' * 13}_{'B' * 43}"  # looked up in the database
    try:
        down = [
            client.post("/admin/sign-in", data={"api_key": well_formed, "csrf_token": token})
            for _ in range(12)
        ]
    finally:
        runtime.sessions = working
        unreachable.dispose()
    assert {a.status_code for a in down} == {503}
    assert staff_sign_in_attempts(runtime) == []
    # The whole budget is still there: ten refusals, then the limit.
    statuses = [staff_sign_in(client, "shk_nope").status_code for _ in range(11)]
    assert statuses == [422] * 10 + [429]
    with TestClient(client.app, client=("192.0.2.11", 50000)) as elsewhere:
        assert staff_sign_in(elsewhere, key).status_code == 303
