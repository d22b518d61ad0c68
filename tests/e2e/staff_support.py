"""Helpers of the staff sign-in tests: invite a member, read the e-mailed code, walk the
sign-in's three pages."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient
from httpx import Response

from safehold.access.rules import Actor
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff import service
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role
from tests.integration.comms.smtp import SmtpServer

CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')
CODE = re.compile(r"admin console of .+ is (\d{8})")
SECRET = re.compile(r'class="totp-secret">([A-Z2-7]{32})<')
ATTEMPT = re.compile(r"attempt=([0-9a-f-]{36})")


def token(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def invite(runtime: Runtime, address: str, role: Role, name: str) -> StaffMember:
    with transaction(runtime.sessions) as session:
        return service.invite(
            session, service.context(runtime), address, name=name, role=role,
            actor=Actor("admin", "test"),
        )  # fmt: skip


def ask_code(client: TestClient, address: str) -> Response:
    form = client.get("/admin/sign-in")
    data = {"csrf_token": token(form), "email": address, "next": "/admin"}
    return client.post("/admin/sign-in/email", data=data, follow_redirects=False)


def attempt_of(answer: Response) -> str:
    assert answer.status_code == 303, answer.text
    found = ATTEMPT.search(answer.headers["location"])
    assert found
    return found.group(1)


def mailed_code(smtp: SmtpServer, address: str) -> str:
    messages = smtp.inbox.to(address)
    assert messages, "no e-mail reached the sink"
    body = messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    found = CODE.search(body.get_content())
    assert found, "the e-mail carries no code"
    return found.group(1)


def post_step(client: TestClient, step: str, attempt: str, code: str) -> Response:
    page = client.get(f"/admin/sign-in/{step}?attempt={attempt}")
    data = {"csrf_token": token(page), "attempt": attempt, "code": code, "next": "/admin"}
    return client.post(f"/admin/sign-in/{step}", data=data, follow_redirects=False)


def enrol(client: TestClient, smtp: SmtpServer, address: str) -> tuple[str, str]:
    """Ask for a code and enter it on a first sign-in: the attempt and the TOTP secret shown."""
    attempt = attempt_of(ask_code(client, address))
    shown = post_step(client, "code", attempt, mailed_code(smtp, address))
    assert shown.status_code == 200, shown.text
    found = SECRET.search(shown.text)
    assert found, "the first sign-in shows no authenticator key"
    return attempt, found.group(1)


def totp(runtime: Runtime, secret: str, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(runtime.clock.now().timestamp() + seconds)


def join(client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    """A first complete sign-in (code, enrolment, TOTP) in ``client``: the TOTP secret."""
    attempt, secret = enrol(client, smtp, address)
    done = post_step(client, "totp", attempt, totp(runtime, secret))
    assert done.status_code == 303, done.text
    return secret


def post_form(client: TestClient, page: str, action: str, data: dict[str, str]) -> Response:
    """Submit a form of ``page`` as a browser does: with the page's CSRF token."""
    return client.post(
        action, data={"csrf_token": token(client.get(page)), **data}, follow_redirects=False
    )


def join_again(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str, secret: str
) -> None:
    """A later sign-in (code, then the TOTP of the app enrolled with ``secret``)."""
    attempt = attempt_of(ask_code(client, address))
    step = post_step(client, "code", attempt, mailed_code(smtp, address))
    assert step.status_code == 303, step.text
    done = post_step(client, "totp", attempt, totp(runtime, secret))
    assert done.status_code == 303, done.text
