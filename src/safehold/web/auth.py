"""Sign-in and sign-out pages: people to the privacy center (/me) with an e-mailed code,
staff to the admin console (/admin) with an API key on the break-glass path, open only until
an owner has joined (members sign in through :mod:`safehold.staff.routes`).

Form fields arrive as plain optional strings and are checked here, so a wrong value is shown
next to its field on the same page instead of as an error page.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from safehold import ratelimit
from safehold.access import audit
from safehold.access.errors import InvalidApiKey
from safehold.access.rules import Actor
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import InvalidInput, RateLimited
from safehold.requests import rules as codes
from safehold.requests.errors import CodeAttemptsExhausted, CodeExpired, CodeInvalid, CodeMissing
from safehold.runtime import Runtime
from safehold.staff import manage
from safehold.subjects.errors import ConfusableEmail
from safehold.web import pages, rules, sessions, signin, staff
from safehold.web.pages import CsrfDep
from safehold.web.rules import Kind

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Form()]
STAFF_LIMIT = "signin.staff.client"  # refused staff sign-ins per client address


def _code_page(
    request: Request, attempt: str, next_: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return pages.render(
        request, "sign_in_code.html",
        {"attempt": attempt, "next": next_, "errors": {"code": error} if error else {},
         "ttl_minutes": int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)},
        status_code=status_code,
    )  # fmt: skip


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _address_key(runtime: Runtime, address: str) -> str:
    """The address as the rate limit counts it: its blind index, never the address."""
    try:
        return runtime.vault.email_index(address)
    except InvalidInput:
        return "malformed"


@router.get("/me/sign-in", response_class=HTMLResponse)
def person_sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    target = pages.safe_next(next, "/me")
    return pages.render(request, "sign_in.html", {"next": target, "email": "", "errors": {}})


@router.post("/me/sign-in", response_class=HTMLResponse)
def person_sign_in(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    email: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target = pages.safe_next(next, "/me")
    address = (email or "").strip()
    error, status = None, 422
    if not address:
        error = "Enter the e-mail address of your account."
    elif len(address) > 254:
        error = "That is longer than any e-mail address can be."
    else:
        try:
            counted = (
                ("signin.code.client", _client(request)),
                ("signin.code.address", _address_key(runtime, address)),
            )
            with ratelimit.attempt(runtime, *counted):  # a 503 uses up no one's budget
                attempt = signin.request_code(session, signin.context(runtime), address)
                session.commit()
        except RateLimited as exc:
            error, status = (
                f"Too many codes were asked for. Try again in {exc.retry_after} seconds.",
                429,
            )
        except ConfusableEmail:
            error = "Type the address in one alphabet, without look-alike or full-width letters."
        except InvalidInput:
            error = "Enter an e-mail address like name@example.com."
    if error is not None:
        return pages.render(
            request, "sign_in.html", {"next": target, "email": address, "errors": {"email": error}},
            status_code=status,
        )  # fmt: skip
    return pages.redirect(f"/me/sign-in/code?{urlencode({'attempt': attempt, 'next': target})}")


@router.get("/me/sign-in/code", response_class=HTMLResponse)
def person_code_page(request: Request, attempt: str = "", next: str | None = None) -> Response:
    return _code_page(request, attempt, pages.safe_next(next, "/me"))


CODE_ERRORS = {
    CodeInvalid: "That code is not right. Check the e-mail and type the 8 digits again.",
    CodeExpired: "That code has expired. Ask for a new one.",
    CodeAttemptsExhausted: "Too many wrong codes. Ask for a new one.",
    CodeMissing: "That code has been used or replaced. Ask for a new one.",
}


@router.post("/me/sign-in/code", response_class=HTMLResponse)
def person_code(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    attempt: Field = None, code: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target = pages.safe_next(next, "/me")
    digits = codes.typed_code(code)
    if digits is None:
        return _code_page(
            request, attempt or "", target, "Type the 8 digits of the code.", status_code=422
        )
    try:
        attempt_id = uuid.UUID(attempt or "")
    except ValueError:
        return _code_page(request, "", target, CODE_ERRORS[CodeInvalid], status_code=422)
    try:
        # Counted once the code was judged, right or wrong; a 503 costs no try.
        with ratelimit.attempt(runtime, ("signin.verify.client", _client(request))):
            return _check_code(request, session, runtime, attempt_id, digits, target)
    except RateLimited as exc:
        message = f"Too many tries. Try again in {exc.retry_after} seconds."
        return _code_page(request, str(attempt_id), target, message, status_code=429)


def _check_code(
    request: Request, session: Session, runtime: Runtime, attempt_id: uuid.UUID, digits: str,
    target: str,
) -> Response:  # fmt: skip
    try:
        subject_id = signin.check_code(session, signin.context(runtime), attempt_id, digits)
    except (CodeInvalid, CodeExpired, CodeAttemptsExhausted, CodeMissing) as exc:
        session.commit()  # the attempt counts
        return _code_page(request, str(attempt_id), target, CODE_ERRORS[type(exc)], status_code=422)
    token = sessions.start(session, Kind.PERSON, now=runtime.clock.now(), subject_id=subject_id)
    audit.record(
        session, actor=Actor("subject", str(subject_id)), action="privacy_center.sign_in",
        subject_id=subject_id, categories=[], purpose=signin.PURPOSE, outcome="ok",
        clock=runtime.clock,
    )  # fmt: skip
    return _signed_in(request, session, Kind.PERSON, token, target)


def _signed_in(request: Request, session: Session, kind: Kind, token: str, target: str) -> Response:
    session.commit()  # the session row and the sign-in's audit entry
    response = pages.redirect(target)
    pages.sign_in_cookie(response, request, kind, token)
    return response


def _sign_out(request: Request, session: Session, kind: Kind) -> Response:
    sessions.end(session, request.cookies.get(rules.COOKIES[kind]))
    session.commit()
    response = pages.redirect(pages.SIGN_IN[kind])
    pages.sign_out_cookie(response, kind)
    return response


@router.post("/me/sign-out")
def person_sign_out(request: Request, _csrf: CsrfDep, session: SessionDep) -> Response:
    return _sign_out(request, session, Kind.PERSON)


def _key_sign_in_open(session: Session) -> bool:
    """The break-glass path: only until an owner has joined (decision 0042)."""
    return not manage.owner_has_joined(session)


@router.get("/admin/sign-in", response_class=HTMLResponse)
def staff_sign_in_page(
    request: Request, session: SessionDep, next: str | None = None
) -> HTMLResponse:
    target = pages.safe_next(next, "/admin")
    values = {"next": target, "errors": {}, "key_sign_in": _key_sign_in_open(session)}
    return pages.render(request, "admin_sign_in.html", values)


@router.post("/admin/sign-in", response_class=HTMLResponse)
def staff_sign_in(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    api_key: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    """Refused attempts are audited and counted per client (``signin.staff.client``); one
    that failed for another reason (the database down) is neither."""
    target = pages.safe_next(next, "/admin")
    given, client = (api_key or "").strip(), _client(request)

    def refused(message: str, status_code: int, *, open_: bool = True) -> HTMLResponse:
        return pages.render(
            request, "admin_sign_in.html",
            {"next": target, "errors": {"api_key": message}, "key_sign_in": open_},
            status_code=status_code,
        )  # fmt: skip

    if not given:
        return refused("Enter your API key.", 422)
    try:
        ratelimit.check(runtime, STAFF_LIMIT, client)
    except RateLimited as exc:
        return refused(f"Too many attempts. Try again in {exc.retry_after} seconds.", 429)
    request_id = getattr(request.state, "request_id", None)
    if not _key_sign_in_open(session):
        staff.refuse_closed(session, given, clock=runtime.clock, request_id=request_id)
        session.commit()  # the refusal's audit entry
        with contextlib.suppress(RateLimited):
            ratelimit.hit(runtime, STAFF_LIMIT, client)
        return refused(staff.CLOSED, 403, open_=False)
    try:
        key = staff.sign_in(session, given, clock=runtime.clock, request_id=request_id)
    except InvalidApiKey as exc:
        session.commit()  # the refusal's audit entry
        with contextlib.suppress(RateLimited):  # the check above let it in: this one counts
            ratelimit.hit(runtime, STAFF_LIMIT, client)
        return refused(f"{exc.message[:1].upper()}{exc.message[1:]}.", 422)
    token = sessions.start(session, Kind.STAFF, now=runtime.clock.now(), api_key_id=key.id)
    return _signed_in(request, session, Kind.STAFF, token, target)


@router.post("/admin/sign-out")
def staff_sign_out(request: Request, _csrf: CsrfDep, session: SessionDep) -> Response:
    return _sign_out(request, session, Kind.STAFF)
