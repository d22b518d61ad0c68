"""What every page route shares: rendering with the CSRF token, the CSRF check of form
posts, the signed-in person or staff member, and errors as pages instead of JSON.

Pages live under :data:`PAGE_PREFIXES`; an error raised there is shown as a readable page
with its stable code, and a missing session becomes a redirect to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safehold.access.rules import Actor
from safehold.deps import RuntimeDep, SessionDep
from safehold.runtime import Runtime
from safehold.web import rules, sessions
from safehold.web.errors import CsrfRejected, SignInRequired
from safehold.web.rules import Kind
from safehold.web.sessions import SignedIn
from safehold.web.templating import TEMPLATES

PAGE_PREFIXES = ("/me", "/admin", "/exports")
_CURRENT_CSRF: ContextVar[str] = ContextVar("safehold_csrf_token", default="")
TEMPLATES.env.globals["csrf_field_name"] = rules.CSRF_FIELD
TEMPLATES.env.globals["current_csrf_token"] = _CURRENT_CSRF.get
SIGN_IN = {Kind.PERSON: "/me/sign-in", Kind.STAFF: "/admin/sign-in"}


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _csrf_key(runtime: Runtime) -> bytes:
    return rules.csrf_key(runtime.vault.provider.index_key())


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """A template with the policy, the form token and the signed-in state in its context.
    Sets the CSRF cookie when the browser has none yet."""
    runtime: Runtime = request.app.state.runtime
    cookie = request.cookies.get(rules.CSRF_COOKIE)
    fresh = not cookie or len(cookie) > 64
    if fresh:
        cookie = rules.new_token()
    assert cookie is not None
    token = rules.csrf_token(_csrf_key(runtime), cookie)
    values = {
        "policy": runtime.policy,
        "csrf_field": rules.CSRF_FIELD,
        "csrf_token": token,
        **(context or {}),
    }
    # Macros imported from _forms.html do not see the page's context: csrf() reads the
    # token from here instead (the template is rendered inside TemplateResponse()).
    reset = _CURRENT_CSRF.set(token)
    try:
        response = TEMPLATES.TemplateResponse(request, name, values, status_code=status_code)
    finally:
        _CURRENT_CSRF.reset(reset)
    response.headers["cache-control"] = "no-store"  # pages show personal data
    if fresh:
        response.set_cookie(
            rules.CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=_secure(request)
        )
    return response


async def require_csrf(request: Request) -> None:
    """Every form post carries the token :func:`render` put in the page."""
    form = await request.form()
    submitted = form.get(rules.CSRF_FIELD)
    runtime: Runtime = request.app.state.runtime
    if not rules.csrf_valid(
        _csrf_key(runtime),
        request.cookies.get(rules.CSRF_COOKIE),
        submitted if isinstance(submitted, str) else None,
    ):
        raise CsrfRejected(
            "this form has expired or did not come from this site: go back, reload the page "
            "and send it again"
        )


CsrfDep = Annotated[None, Depends(require_csrf)]


def _signed_in(request: Request, session: SessionDep, runtime: Runtime, kind: Kind) -> SignedIn:
    found = sessions.load(
        session, kind, request.cookies.get(rules.COOKIES[kind]), now=runtime.clock.now()
    )
    session.commit()  # the touch (or the removal of a dead session) is kept
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(f"{SIGN_IN[kind]}?next={quote(target, safe='')}")
    return found


def current_person(request: Request, session: SessionDep, runtime: RuntimeDep) -> SignedIn:
    return _signed_in(request, session, runtime, Kind.PERSON)


def current_staff(request: Request, session: SessionDep, runtime: RuntimeDep) -> SignedIn:
    return _signed_in(request, session, runtime, Kind.STAFF)


PersonDep = Annotated[SignedIn, Depends(current_person)]
StaffDep = Annotated[SignedIn, Depends(current_staff)]


def actor_of(request: Request, signed_in: SignedIn) -> Actor:
    """The audit actor: the person themselves, the staff member, or (break-glass) the key."""
    request_id = getattr(request.state, "request_id", None)
    if signed_in.kind is Kind.PERSON:
        return Actor("subject", str(signed_in.subject_id), request_id=request_id)
    if signed_in.member is not None:
        member = signed_in.member
        return Actor("staff", str(member.id), request_id=request_id, role=member.role)
    assert signed_in.api_key is not None
    return Actor("api_key", signed_in.api_key.id, request_id=request_id)


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site under the same area (no open redirect)."""
    if target and target.startswith(default) and not target.startswith("//"):
        return target
    return default


def sign_in_cookie(response: Response, request: Request, kind: Kind, token: str) -> None:
    response.set_cookie(
        rules.COOKIES[kind], token, httponly=True, samesite="strict", secure=_secure(request),
        path=rules.COOKIE_PATHS[kind], max_age=int(rules.LIFETIMES[kind].absolute.total_seconds()),
    )  # fmt: skip


def sign_out_cookie(response: Response, kind: Kind) -> None:
    response.delete_cookie(rules.COOKIES[kind], path=rules.COOKIE_PATHS[kind])


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def error_page(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None,
    *, details: Mapping[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    """The error as a page: under /admin in the console's frame (its width and footer), and
    a missing scope named with what to ask for (``details`` of the error, never a value the
    client sent: only :class:`MissingScope`'s ``required_scope`` and, for a staff member, the
    ``role`` label the console's guard put there are read)."""
    staff = request.url.path == "/admin" or request.url.path.startswith("/admin/")
    scope = (details or {}).get("required_scope") if code == "missing_scope" else None
    role = (details or {}).get("role") if code == "missing_scope" else None  # the console's
    page = render(
        request, "error.html",
        {"status": status, "code": code, "message": message, "staff": staff,
         "missing_scope": scope if isinstance(scope, str) else None,
         "missing_scope_role": role if isinstance(role, str) else None},
        status_code=status,
    )  # fmt: skip
    page.headers.update(headers or {})  # e.g. Retry-After of a rate limit
    return page
