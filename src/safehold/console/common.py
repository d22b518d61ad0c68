"""What every console route shares: the scope check, the page with its navigation, the
feature contexts, and turning a refused action into a message next to its field."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from safehold.access.errors import MissingScope, PurposeNotAllowed
from safehold.access.rules import holds, purpose_allowed
from safehold.comms import service as comms
from safehold.console import rules
from safehold.errors import SafeholdError
from safehold.handlers import status_for
from safehold.requests import service as requests
from safehold.runtime import Runtime
from safehold.staff import rules as staff_rules
from safehold.staff.errors import OwnerOnly
from safehold.subjects import service as subjects
from safehold.web import pages
from safehold.web.sessions import SignedIn

Field = Annotated[str | None, Form()]


@dataclass(frozen=True)
class Principal:
    """Who the console serves, with what they may do: a staff member (their role's scopes
    and purposes, from :data:`safehold.staff.rules.ROLES`) or, on the break-glass path, an
    API key (its own). ``holder`` names the grant in a refusal."""

    name: str
    holder: str  # "the role support agent" | "this API key"
    role: str | None  # a member's role's label; None for a key
    scopes: Collection[str]
    purposes: list[str]


def key_of(signed_in: SignedIn) -> Principal:
    """The principal of a staff session (StaffDep only lets staff sessions through)."""
    if signed_in.member is not None:
        member = signed_in.member
        grant = staff_rules.grant(member.role)
        return Principal(
            member.name, f"the role {grant.label}", grant.label, grant.scopes,
            list(grant.purposes),
        )  # fmt: skip
    key = signed_in.api_key
    assert key is not None
    return Principal(key.name, "this API key", None, key.scopes, key.purposes)


def guard(signed_in: SignedIn, scope: str | None) -> Principal:
    """The signed-in principal, if it holds ``scope`` (else 403 naming the scope)."""
    principal = key_of(signed_in)
    if scope is not None and not holds(principal.scopes, scope):
        details = {"required_scope": scope}
        if principal.role is not None:
            details["role"] = principal.role
        raise MissingScope(f"{principal.holder} lacks the scope {scope!r}", details=details)
    return principal


def require_owner(signed_in: SignedIn) -> Principal:
    """The signed-in owner: staff management is an owner's alone, never an API key's (even
    one holding every scope, on the break-glass path) nor another role's."""
    member = signed_in.member
    if member is None or member.role != staff_rules.Role.OWNER:
        raise OwnerOnly("only an owner manages staff members", details={})
    return key_of(signed_in)


def require_purpose(principal: Principal, purpose: str, *, declared: Collection[str]) -> None:
    """Refuse a purpose the principal may not use; a submitted value is named only when the
    policy declares it (as the API's check)."""
    if not purpose_allowed(principal.purposes, purpose):
        named = purpose in declared
        raise PurposeNotAllowed(
            f"{principal.holder} may not use personal data for "
            + (f"the purpose {purpose!r}" if named else "an undeclared purpose"),
            details={"purpose": purpose if named else None,
                     "allowed_purposes": principal.purposes},
        )  # fmt: skip


def page(
    request: Request, signed_in: SignedIn, name: str, context: dict[str, Any] | None = None,
    *, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """A console page with the navigation this key may use and the current page marked."""
    principal = key_of(signed_in)
    owner = signed_in.member is not None and signed_in.member.role == staff_rules.Role.OWNER
    values = {
        "nav": rules.nav(principal.scopes, owner=owner),
        "here": request.url.path,
        "key_name": principal.name if principal.role is None else None,
        "member_name": principal.name if principal.role is not None else None,
        "member_role": principal.role,
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
