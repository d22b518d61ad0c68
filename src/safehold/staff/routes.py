"""Staff members' console sign-in: an e-mailed one-time code, then a TOTP code (on the
first sign-in, after enrolling an authenticator app, whose secret the page shows once).

Both steps are rate limited (:mod:`safehold.ratelimit`): codes asked per address and per
client, code and TOTP checks per client, and wrong TOTP codes per member across attempts —
past that the member's sign-in is locked for the window, which the page says. The session
this starts is the console's (``safehold_admin``: HttpOnly, SameSite=Strict, path /admin).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from safehold import ratelimit
from safehold.comms.mail import MailError
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import InvalidInput, RateLimited
from safehold.requests import rules as codes
from safehold.staff import manage, passkey_routes, passkeys, rules, service
from safehold.staff.errors import PasskeyOnly, SignInRefused
from safehold.staff.models import StaffMember, StaffSignIn
from safehold.staff.passkey_rules import code_sign_in_allowed, must_register
from safehold.subjects.errors import ConfusableEmail
from safehold.web import pages, sessions
from safehold.web.pages import CsrfDep
from safehold.web.rules import Kind

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Form()]
HOME = "/admin"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _step(request: Request, name: str, attempt: str, next_: str, **extra: object) -> HTMLResponse:
    status_code = int(extra.pop("status_code", 200))  # type: ignore[call-overload]
    values = {"attempt": attempt, "next": next_, "errors": {}, **extra}
    return pages.render(request, f"staff/{name}.html", values, status_code=status_code)


@router.post("/admin/sign-in/email", response_class=HTMLResponse)
def ask_code(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    email: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target = pages.safe_next(next, HOME)
    address, error, status = (email or "").strip(), None, 422
    if not address:
        error = "Enter the e-mail address you were invited with."
    elif len(address) > 254:
        error = "That is longer than any e-mail address can be."
    else:
        ctx = service.context(runtime)
        try:
            counted = (
                ("signin.member.code.client", _client(request)),
                ("signin.member.code.address", service.email_index(ctx, address)),
            )
            with ratelimit.attempt(runtime, *counted):
                attempt = service.request_code(session, ctx, address)
                session.commit()
        except RateLimited as exc:
            error = f"Too many codes asked for. Try again in {exc.retry_after} seconds."
            status = 429
        except MailError:
            session.rollback()  # no attempt without its e-mail
            error, status = "The code could not be e-mailed just now. Try again in a minute.", 503
        except ConfusableEmail:
            error = "Type the address in one alphabet, without look-alike or full-width letters."
        except InvalidInput:
            error = "Enter an e-mail address like name@example.com."
    if error is not None:
        return pages.render(
            request, "admin_sign_in.html",
            {"next": target, "email": address, "errors": {"email": error},
             "key_sign_in": not manage.owner_has_joined(session)}, status_code=status,
        )  # fmt: skip
    query = urlencode({"attempt": str(attempt), "next": target})
    return pages.redirect(f"/admin/sign-in/code?{query}")


@router.get("/admin/sign-in/code", response_class=HTMLResponse)
def code_page(request: Request, attempt: str = "", next: str | None = None) -> HTMLResponse:
    minutes = int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)
    return _step(request, "code", attempt, pages.safe_next(next, HOME), ttl_minutes=minutes)


def _attempt_id(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return None


@router.post("/admin/sign-in/code", response_class=HTMLResponse)
def enter_code(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    attempt: Field = None, code: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target, attempt_id, digits = pages.safe_next(next, HOME), _attempt_id(attempt), None
    minutes = int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)
    digits = codes.typed_code(code)
    if attempt_id is None or digits is None:
        return _step(request, "code", attempt or "", target, ttl_minutes=minutes, status_code=422,
                     errors={"code": "Type the 8 digits of the code from the e-mail."})  # fmt: skip
    ctx = service.context(runtime)
    try:
        with ratelimit.attempt(runtime, ("signin.member.verify.client", _client(request))):
            member = service.check_code(session, ctx, attempt_id, digits)
            _code_sign_in_allowed(session, runtime, member)
            secret = service.enrolment(session, ctx, member)
            session.commit()
    except PasskeyOnly as exc:
        session.rollback()  # the right code does not open this way
        return _step(request, "code", str(attempt_id), target, ttl_minutes=minutes,
                     status_code=422, errors={"code": _sentence(exc.message)})  # fmt: skip
    except (RateLimited, SignInRefused) as exc:
        session.commit()  # a counted wrong try and its audit entry
        message = (
            f"Too many tries. Try again in {exc.retry_after} seconds."
            if isinstance(exc, RateLimited)
            else _sentence(exc.message)
        )
        status = 429 if isinstance(exc, RateLimited) else 422
        return _step(request, "code", str(attempt_id), target, ttl_minutes=minutes,
                     status_code=status, errors={"code": message})  # fmt: skip
    if secret is None:
        query = urlencode({"attempt": str(attempt_id), "next": target})
        return pages.redirect(f"/admin/sign-in/totp?{query}")
    account = f"{member.name} ({ctx.operator})"
    uri = rules.provisioning_uri(secret, account, f"{ctx.operator} {rules.ISSUER}")
    return _step(request, "totp", str(attempt_id), target, secret=secret, uri=uri)


def _code_sign_in_allowed(session: SessionDep, runtime: RuntimeDep, member: StaffMember) -> None:
    """Under SAFEHOLD_STAFF_2FA=passkey, a member who has a passkey signs in only with it."""
    if not code_sign_in_allowed(
        runtime.settings.staff_2fa, passkeys.has_passkey(session, member.id)
    ):
        raise PasskeyOnly(
            "this console takes your passkey: use 'Sign in with a passkey'", details={}
        )


@router.get("/admin/sign-in/totp", response_class=HTMLResponse)
def totp_page(request: Request, attempt: str = "", next: str | None = None) -> HTMLResponse:
    return _step(request, "totp", attempt, pages.safe_next(next, HOME))


@router.post("/admin/sign-in/totp", response_class=HTMLResponse)
def enter_totp(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    attempt: Field = None, code: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target, attempt_id, digits = pages.safe_next(next, HOME), _attempt_id(attempt), None
    digits = rules.typed_totp(code)

    def refused(message: str, status_code: int) -> HTMLResponse:
        return _step(request, "totp", attempt or "", target, status_code=status_code,
                     errors={"code": message})  # fmt: skip

    if attempt_id is None or digits is None:
        return refused("Type the 6 digits your authenticator app shows.", 422)
    row = session.get(StaffSignIn, attempt_id)
    member_key = str(row.member_id) if row is not None and row.member_id else str(attempt_id)
    ctx = service.context(runtime)
    try:
        ratelimit.check(runtime, "signin.member.totp.member", member_key)
        with ratelimit.attempt(runtime, ("signin.member.verify.client", _client(request))):
            member = service.check_totp(session, ctx, attempt_id, digits)
            _code_sign_in_allowed(session, runtime, member)
    except PasskeyOnly as exc:
        session.rollback()
        return refused(_sentence(exc.message), 422)
    except RateLimited as exc:
        return refused(
            f"Too many wrong codes: sign-in is locked. Try again in {exc.retry_after} seconds.", 429
        )
    except SignInRefused as exc:
        session.commit()  # the counted try and its audit entry
        with contextlib.suppress(RateLimited):  # this refusal counts toward the lockout
            ratelimit.hit(runtime, "signin.member.totp.member", member_key)
        return refused(_sentence(exc.message), 422)
    if must_register(runtime.settings.staff_2fa, passkeys.has_passkey(session, member.id)):
        ceremony = passkeys.begin_registration(session, ctx, member, signs_in=True)
        session.commit()
        action = "/admin/sign-in/passkey/register"
        return passkey_routes.registration_page(request, ceremony, action=action, target=target)
    token = sessions.start(session, Kind.STAFF, now=runtime.clock.now(), member=member)
    session.commit()
    response = pages.redirect(target)
    pages.sign_in_cookie(response, request, Kind.STAFF, token)
    return response
