"""What every console route shares: the scope check, the page with its navigation, the
feature contexts, and turning a refused action into a message next to its field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.comms import service as comms
from safehold.console import rules
from safehold.errors import SafeholdError
from safehold.handlers import status_for
from safehold.requests import service as requests
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.web import pages
from safehold.web.sessions import SignedIn

Field = Annotated[str | None, Form()]


def key_of(signed_in: SignedIn) -> ApiKey:
    assert signed_in.api_key is not None  # StaffDep only lets staff sessions through
    return signed_in.api_key


def guard(signed_in: SignedIn, scope: str | None) -> ApiKey:
    """The staff member's key, if it holds ``scope`` (else 403 naming the scope)."""
    key = key_of(signed_in)
    if scope is not None:
        access.require_scope(key, scope)
    return key


def page(
    request: Request, signed_in: SignedIn, name: str, context: dict[str, Any] | None = None,
    *, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """A console page with the navigation this key may use and the current page marked."""
    key = key_of(signed_in)
    values = {
        "nav": rules.nav(key.scopes),
        "here": request.url.path,
        "key_name": key.name,
        "errors": {},
        **(context or {}),
    }
    return pages.render(request, name, values, status_code=status_code)


def message(exc: SafeholdError) -> str:
    """A refusal as a sentence for the page (messages never carry submitted values)."""
    text = exc.message
    return f"{text[:1].upper()}{text[1:]}."


def status_of(exc: SafeholdError) -> int:
    return status_for(exc)


def subjects_context(runtime: Runtime) -> subjects.Context:
    return subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def requests_context(runtime: Runtime) -> requests.Context:
    return requests.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))
