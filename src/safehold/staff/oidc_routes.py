"""Staff single sign-on pages (decision 0039): "Sign in with <provider>" on the staff
sign-in page (only when SAFEHOLD_OIDC_* is set) sends the browser to the provider, whose
answer comes back to the callback; a member signed in lands in the console with the same
session as the code + TOTP path gives.

The start is a link (a form posting here could not be redirected to the provider under the
pages' ``form-action 'self'``). The round trip's state goes in a cookie of its own
(HttpOnly, SameSite=Lax so the provider's redirect carries it, path of the callback, ten
minutes), so a callback this browser did not begin is refused. Both steps are rate limited
per client; refusals are audited and shown on the sign-in page with the reason.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safehold import ratelimit
from safehold.config import Settings
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import RateLimited
from safehold.logs import get_logger
from safehold.staff import oidc_client, oidc_rules, oidc_service, service
from safehold.staff.errors import OidcRefused
from safehold.staff.models import StaffOidcAttempt
from safehold.staff.oidc_client import ProviderUnavailable
from safehold.staff.oidc_rules import ClaimRefused
from safehold.web import pages, sessions
from safehold.web.rules import Kind
from safehold.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)
log = get_logger(__name__)
HOME = "/admin"
START = "/admin/sign-in/oidc"
STATE_COOKIE = "safehold_oidc"


def provider_name(settings: Settings) -> str | None:
    """The name on the button: SAFEHOLD_OIDC_NAME, else the issuer's host; None when off."""
    if not settings.oidc_enabled:
        return None
    return settings.oidc_name or urlsplit(settings.oidc_issuer or "").hostname


TEMPLATES.env.globals["staff_sso_name"] = provider_name


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(request: Request, message: str, status_code: int, next_: str = HOME) -> HTMLResponse:
    values = {"next": next_, "errors": {"oidc": message}}
    response = pages.render(request, "admin_sign_in.html", values, status_code=status_code)
    response.delete_cookie(STATE_COOKIE, path=oidc_client.CALLBACK)
    return response


UNAVAILABLE = "The identity provider did not answer as expected. Try again in a minute."


@router.get(START, response_class=HTMLResponse)
def start(
    request: Request, session: SessionDep, runtime: RuntimeDep, next: str | None = None
) -> Response:
    cfg, target = oidc_client.config(runtime.settings), pages.safe_next(next, HOME)
    if cfg is None:
        return _page(request, "Single sign-on is not set up here: sign in with your code.", 404)
    try:
        with (
            ratelimit.attempt(runtime, ("signin.member.oidc.client", _client(request))),
            oidc_client.client(cfg) as http,
        ):
            provider = oidc_client.discover(http, cfg)
            begun = oidc_service.begin(session, service.context(runtime), target)
            url = oidc_client.authorization_url(
                http, provider, begun.state, begun.nonce, begun.verifier
            )
            session.commit()
    except RateLimited as exc:
        return _page(request, f"Too many sign-ins. Try again in {exc.retry_after} seconds.", 429)
    except ProviderUnavailable as exc:
        log.warning("oidc.provider_unavailable", step="discovery", detail=str(exc))
        return _page(request, UNAVAILABLE, 503)
    response = pages.redirect(url)
    response.set_cookie(
        STATE_COOKIE, begun.state, httponly=True, samesite="lax", path=oidc_client.CALLBACK,
        secure=request.url.scheme == "https",
        max_age=int(oidc_rules.ATTEMPT_TTL.total_seconds()),
    )  # fmt: skip
    return response


def _claims(
    cfg: oidc_client.Config, code: str, attempt: StaffOidcAttempt, now: datetime
) -> dict[str, Any]:
    """The claims of the ID token the provider gives for ``code``, checked (ClaimRefused)."""
    with oidc_client.client(cfg) as http:
        provider = oidc_client.discover(http, cfg)
        id_token = oidc_client.exchange(http, provider, code, attempt.code_verifier)
        keys = oidc_client.keys_of(http, provider)
    claims = oidc_client.signed_claims(id_token, keys)
    oidc_rules.check_id_token(
        claims, issuer=cfg.issuer, client_id=cfg.client_id, nonce=attempt.nonce, now=now
    )
    return claims


@router.get(oidc_client.CALLBACK, response_class=HTMLResponse)
def callback(
    request: Request, session: SessionDep, runtime: RuntimeDep,
    state: str = "", code: str = "", error: str | None = None,
) -> Response:  # fmt: skip
    cfg = oidc_client.config(runtime.settings)
    if cfg is None:
        return _page(request, "Single sign-on is not set up here: sign in with your code.", 404)
    ctx, cookie = service.context(runtime), request.cookies.get(STATE_COOKIE, "")
    try:
        with ratelimit.attempt(runtime, ("signin.member.oidc.client", _client(request))):
            if error is not None or not code:  # denied, or cancelled: nobody to sign in
                oidc_service.refuse(session, ctx)
                raise OidcRefused.because("provider_error")
            if not state or not hmac.compare_digest(state.encode(), cookie.encode()):
                oidc_service.refuse(session, ctx)
                raise OidcRefused.because("state")
            attempt = oidc_service.take(session, ctx, state)
            session.commit()  # the state is used, whatever comes next
            try:
                claims = _claims(cfg, code, attempt, ctx.clock.now())
            except ClaimRefused as exc:
                oidc_service.refuse(session, ctx)
                raise OidcRefused.because(exc.reason) from None
            member = oidc_service.sign_in(session, ctx, claims, cfg.role_claim)
    except RateLimited as exc:
        return _page(request, f"Too many sign-ins. Try again in {exc.retry_after} seconds.", 429)
    except OidcRefused as exc:
        session.commit()  # the refusal's audit entry
        log.info("oidc.refused", reason=exc.details["reason"])
        return _page(request, f"{exc.message}.", 403)
    except ProviderUnavailable as exc:
        log.warning("oidc.provider_unavailable", step="callback", detail=str(exc))
        return _page(request, UNAVAILABLE, 503)
    token = sessions.start(session, Kind.STAFF, now=ctx.clock.now(), member=member)
    session.commit()
    target = pages.safe_next(attempt.next_path, HOME)
    # A page, not a redirect: the console's cookie is SameSite=Strict, and a redirect still
    # belongs to the provider's cross-site navigation, which would not send it.
    response = pages.render(request, "staff/oidc_done.html", {"next": target})
    response.delete_cookie(STATE_COOKIE, path=oidc_client.CALLBACK)
    pages.sign_in_cookie(response, request, Kind.STAFF, token)
    return response
