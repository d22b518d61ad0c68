"""Staff passkey pages (decision 0041): signing in with a passkey, registering one (signed
in, or at the end of a code + TOTP sign-in under SAFEHOLD_STAFF_2FA=passkey), and a
member's own list with removal.

Each ceremony is two form posts: the first records the challenge and shows a page whose
script (``static/passkeys.js``) hands the options to the browser's WebAuthn API and posts
its answer back, as JSON in a hidden field, with the form's CSRF token.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from safehold import ratelimit
from safehold.console import common
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import RateLimited
from safehold.staff import passkey_rules as rules
from safehold.staff import passkeys, service
from safehold.staff.errors import PasskeyNotFound, PasskeyRefused
from safehold.staff.models import StaffMember
from safehold.web import pages, sessions
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.rules import Kind
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Form()]
HOME, LIST = "/admin", "/admin/passkeys"
BUCKET = "signin.member.passkey.client"
CREDENTIAL_MAX = 16_384  # characters of a WebAuthn answer as JSON: far above a real one


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _id(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return None


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _sign_in_page(request: Request, target: str, error: str, status: int) -> HTMLResponse:
    values = {"next": target, "errors": {"passkey": error}}
    return pages.render(request, "admin_sign_in.html", values, status_code=status)


def _signed_in(request: Request, member: StaffMember, session: SessionDep, runtime: RuntimeDep,
               target: str) -> Response:  # fmt: skip
    token = sessions.start(session, Kind.STAFF, now=runtime.clock.now(), member=member)
    session.commit()
    response = pages.redirect(target)
    pages.sign_in_cookie(response, request, Kind.STAFF, token)
    return response


@router.post("/admin/sign-in/passkey", response_class=HTMLResponse)
def begin_sign_in(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    next: Field = None,
) -> Response:  # fmt: skip
    target = pages.safe_next(next, HOME)
    reason = rules.unusable_reason(runtime.settings.base_url)
    if reason is not None:
        return _sign_in_page(request, target, _sentence(reason), 409)
    try:
        with ratelimit.attempt(runtime, (BUCKET, _client(request))):
            ceremony = passkeys.begin_sign_in(session, service.context(runtime))
            session.commit()
    except RateLimited as exc:
        return _sign_in_page(
            request, target, f"Too many tries. Try again in {exc.retry_after} seconds.", 429
        )
    values = {"ceremony": str(ceremony.id), "options": ceremony.options_json, "next": target}
    return pages.render(request, "staff/passkey_sign_in.html", values)


@router.post("/admin/sign-in/passkey/verify", response_class=HTMLResponse)
def finish_sign_in(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    ceremony: Field = None, credential: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    target, ceremony_id = pages.safe_next(next, HOME), _id(ceremony)
    if ceremony_id is None or not credential or len(credential) > CREDENTIAL_MAX:
        return _sign_in_page(request, target, "The browser sent no passkey: try again.", 422)
    try:
        ratelimit.check(runtime, BUCKET, _client(request))  # answers spend challenges counted
        member = passkeys.finish_sign_in(session, service.context(runtime), ceremony_id, credential)
    except RateLimited as exc:
        return _sign_in_page(
            request, target, f"Too many tries. Try again in {exc.retry_after} seconds.", 429
        )
    except PasskeyRefused as exc:
        session.commit()  # the spent challenge and the audited refusal
        return _sign_in_page(request, target, _sentence(exc.message), 422)
    return _signed_in(request, member, session, runtime, target)


def registration_page(
    request: Request, ceremony: passkeys.Ceremony, *, action: str, target: str,
    name: str = "", error: str | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """The page that asks the browser for a new passkey and posts it to ``action``."""
    values = {
        "ceremony": str(ceremony.id), "options": ceremony.options_json, "action": action,
        "next": target, "name": name, "errors": {"name": error} if error else {},
        "signed_in": action == "/admin/passkeys/add",
    }  # fmt: skip
    return pages.render(request, "staff/passkey_new.html", values, status_code=status_code)


def _member(signed_in: SignedIn) -> StaffMember:
    if signed_in.member is None:
        raise PasskeyNotFound("passkeys are a staff member's: an API key has none", details={})
    return signed_in.member


def _list(request: Request, signed_in: SignedIn, session: SessionDep, *, notice: str = "",
          error: str = "", status_code: int = 200) -> HTMLResponse:  # fmt: skip
    member = _member(signed_in)
    values = {
        "passkeys": passkeys.passkeys_of(session, member.id), "notice": notice,
        "errors": {"passkey": error} if error else {}, "max_passkeys": rules.MAX_PASSKEYS,
    }  # fmt: skip
    return common.page(request, signed_in, "staff/passkeys.html", values, status_code=status_code)


NOTICES = {"added": "Your passkey is registered: it signs you in from now on.",
           "removed": "The passkey is removed: it no longer signs you in."}  # fmt: skip


@router.get(LIST, response_class=HTMLResponse)
def passkey_list(
    request: Request, signed_in: StaffDep, session: SessionDep, done: str = ""
) -> HTMLResponse:
    return _list(request, signed_in, session, notice=NOTICES.get(done, ""))


@router.post("/admin/passkeys/new", response_class=HTMLResponse)
def begin_registration(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    member = _member(signed_in)
    reason = rules.unusable_reason(runtime.settings.base_url)
    if reason is not None:
        return _list(request, signed_in, session, error=_sentence(reason), status_code=409)
    try:
        ceremony = passkeys.begin_registration(session, service.context(runtime), member)
    except PasskeyRefused as exc:
        return _list(request, signed_in, session, error=_sentence(exc.message), status_code=409)
    session.commit()
    return registration_page(request, ceremony, action="/admin/passkeys/add", target=LIST)


def _finish_registration(
    request: Request, session: SessionDep, runtime: RuntimeDep, ceremony: str | None,
    credential: str | None, name: str | None, member_id: uuid.UUID | None,
) -> StaffMember | str:  # fmt: skip
    """The member whose passkey is kept, or the refusal's sentence."""
    ceremony_id, label = _id(ceremony), rules.passkey_name(name)
    if ceremony_id is None or not credential or len(credential) > CREDENTIAL_MAX:
        return "The browser sent no passkey: start again."
    if label is None:
        return f"Give the passkey a name of 1 to {rules.NAME_MAX} characters: start again."
    try:
        ratelimit.check(runtime, BUCKET, _client(request))
        member, _ = passkeys.finish_registration(
            session, service.context(runtime), ceremony_id, credential, label,
            member_id=member_id,
        )  # fmt: skip
    except RateLimited as exc:
        return f"Too many tries. Try again in {exc.retry_after} seconds."
    except PasskeyRefused as exc:
        session.commit()  # the spent challenge and the audited refusal
        return _sentence(exc.message)
    return member


@router.post("/admin/passkeys/add", response_class=HTMLResponse)
def add(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, ceremony: Field = None, credential: Field = None, name: Field = None,
) -> Response:  # fmt: skip
    member = _member(signed_in)
    outcome = _finish_registration(request, session, runtime, ceremony, credential, name, member.id)
    if isinstance(outcome, str):
        return _list(request, signed_in, session, error=outcome, status_code=422)
    session.commit()
    return pages.redirect(f"{LIST}?done=added")


@router.post("/admin/sign-in/passkey/register", response_class=HTMLResponse)
def register_at_sign_in(
    request: Request, _csrf: CsrfDep, session: SessionDep, runtime: RuntimeDep,
    ceremony: Field = None, credential: Field = None, name: Field = None, next: Field = None,
) -> Response:  # fmt: skip
    """The end of a code + TOTP sign-in under SAFEHOLD_STAFF_2FA=passkey: the passkey made
    for the ceremony's member is kept and the session starts."""
    target = pages.safe_next(next, HOME)
    outcome = _finish_registration(request, session, runtime, ceremony, credential, name, None)
    if isinstance(outcome, str):
        return _sign_in_page(request, target, outcome, 422)
    return _signed_in(request, outcome, session, runtime, target)


@router.post("/admin/passkeys/{passkey_id}/remove", response_class=HTMLResponse)
def remove(
    request: Request, passkey_id: str, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    member, found = _member(signed_in), _id(passkey_id)
    try:
        if found is None:
            raise PasskeyNotFound("you have no passkey with that id", details={})
        passkeys.remove_passkey(session, service.context(runtime), member, found)
    except PasskeyNotFound as exc:
        return _list(request, signed_in, session, error=_sentence(exc.message), status_code=404)
    session.commit()
    return pages.redirect(f"{LIST}?done=removed")
