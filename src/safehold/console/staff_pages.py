"""Console pages for managing staff, an owner's alone (:func:`common.require_owner`, on
every page and action): the members with their role, invitation, first and last sign-in and
removal; inviting one (the e-mail the CLI sends); and for a member, their role, their live
sessions (each revocable), resetting their authenticator and removing them.

Every action is audited by :mod:`safehold.staff.manage` with the acting owner and their
role; the role posted is checked against the roles table, so a tampered form names no role
that does not exist, and a non-owner's post is refused before its fields are read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from safehold.comms.mail import MailError
from safehold.console import common
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import SafeholdError
from safehold.runtime import Runtime
from safehold.staff import manage, passkeys, rules, service
from safehold.staff.errors import MemberNotFound
from safehold.staff.models import StaffMember
from safehold.subjects.errors import ConfusableEmail
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
HOME = "/admin/staff"
NOTICES = {
    "invited": "Invitation e-mailed.",
    "role": "Role changed; their sessions have ended.",
    "removed": "Member removed; their sessions have ended.",
    "totp": "Authenticator reset; their sessions have ended. They set up a new one at their "
    "next sign-in.",
    "revoked": "Session ended.",
    "passkeys": "Passkeys removed; their sessions have ended. They sign in with the e-mailed "
    "code and their authenticator app.",
}
SessionId = Annotated[str, Path(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]


def _roles() -> dict[str, str]:
    return {str(role): grant.label for role, grant in rules.ROLES.items()}


def _names(members: list[StaffMember]) -> dict[str, str]:
    """Audit actor → name, to say who invited whom."""
    return {f"staff:{m.id}": m.name for m in members}


def _list(
    request: Request, signed_in: SignedIn, session: SessionDep, *, status_code: int = 200,
    **values: Any,
) -> HTMLResponse:  # fmt: skip
    members = service.members(session)
    context = {"members": members, "names": _names(members), "roles": _roles(), "form": {},
               "days": rules.INVITATION_TTL.days,
               "notice": NOTICES.get(request.query_params.get("done", "")), **values}  # fmt: skip
    return common.page(request, signed_in, "console/staff.html", context, status_code=status_code)


@router.get(HOME, response_class=HTMLResponse)
def staff(request: Request, signed_in: StaffDep, session: SessionDep) -> HTMLResponse:
    common.require_owner(signed_in)
    return _list(request, signed_in, session)


@router.post(HOME, response_class=HTMLResponse)
def invite(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, email: Field = None, name: Field = None, role: Field = None,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    address, given = (email or "").strip(), (name or "").strip()
    form, errors = {"email": address, "name": given, "role": role}, {}
    if role not in _roles():
        errors["role"] = "Choose one of the roles listed."
    if not address or len(address) > 254:
        errors["email"] = "Enter the address to invite, like name@example.com."
    if len(given) > 120:
        errors["name"] = "A name of at most 120 characters."
    status = 422
    if not errors and role is not None:
        try:
            service.invite(
                session, service.context(runtime), address, name=given or address.split("@")[0],
                role=rules.role_of(role), actor=pages.actor_of(request, signed_in),
            )  # fmt: skip
            session.commit()
            return pages.redirect(f"{HOME}?done=invited")
        except ConfusableEmail:
            errors["email"] = "Type the address in one alphabet, without look-alike letters."
        except MailError:
            errors["email"] = "The invitation could not be e-mailed just now: nobody was invited."
            status = 503
        except SafeholdError as exc:  # not an address; already a member's (409)
            errors["email"], status = common.message(exc), common.status_of(exc)
        session.rollback()  # no member without their invitation
    return _list(request, signed_in, session, form=form, errors=errors, status_code=status)


def _member_page(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    member_id: uuid.UUID, *, status_code: int = 200, **values: Any,
) -> HTMLResponse:  # fmt: skip
    member = session.get(StaffMember, member_id)
    if member is None:
        raise MemberNotFound("no staff member has that id", details={})
    now = runtime.clock.now()
    live = manage.sessions_of(session, member.id, now) if member.removed_at is None else []
    keys = len(passkeys.passkeys_of(session, member.id)) if member.removed_at is None else 0
    context = {"member": member, "sessions": live, "roles": _roles(), "errors": {},
               "passkeys": keys,
               "names": _names(service.members(session)), "current": signed_in.session_id,
               "notice": NOTICES.get(request.query_params.get("done", "")), **values}  # fmt: skip
    page = "console/staff_member.html"
    return common.page(request, signed_in, page, context, status_code=status_code)


@router.get(HOME + "/{member_id}", response_class=HTMLResponse)
def member_page(
    request: Request, member_id: uuid.UUID, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:  # fmt: skip
    common.require_owner(signed_in)
    return _member_page(request, signed_in, session, runtime, member_id)


def _act(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    member_id: uuid.UUID, done: str, action: Callable[[StaffMember], object],
) -> Response:  # fmt: skip
    """Run an owner's action on a current member and go back to their page (or, refused,
    show it with the refusal: nothing is written)."""
    try:
        action(manage.member(session, member_id))
    except SafeholdError as exc:
        session.rollback()
        if isinstance(exc, MemberNotFound):
            raise
        refusal, status = common.message(exc), common.status_of(exc)
        return _member_page(request, signed_in, session, runtime, member_id,
                            refusal=refusal, status_code=status)  # fmt: skip
    session.commit()
    return pages.redirect(f"{HOME}/{member_id}?done={done}")


@router.post(HOME + "/{member_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request, member_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, role: Field = None,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    if role not in _roles() or role is None:
        return _member_page(request, signed_in, session, runtime, member_id, status_code=422,
                            errors={"role": "Choose one of the roles listed."})  # fmt: skip
    chosen, actor, clock = rules.role_of(role), pages.actor_of(request, signed_in), runtime.clock
    return _act(request, signed_in, session, runtime, member_id, "role",
                lambda m: manage.change_role(session, clock, m, chosen, actor=actor))  # fmt: skip


@router.post(HOME + "/{member_id}/remove", response_class=HTMLResponse)
def remove(
    request: Request, member_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    actor = pages.actor_of(request, signed_in)
    return _act(request, signed_in, session, runtime, member_id, "removed",
                lambda m: manage.remove(session, runtime.clock, m, actor=actor))  # fmt: skip


@router.post(HOME + "/{member_id}/totp-reset", response_class=HTMLResponse)
def reset_totp(
    request: Request, member_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    actor = pages.actor_of(request, signed_in)
    return _act(request, signed_in, session, runtime, member_id, "totp",
                lambda m: manage.reset_totp(session, runtime.clock, m, actor=actor))  # fmt: skip


@router.post(HOME + "/{member_id}/passkey-reset", response_class=HTMLResponse)
def reset_passkeys(
    request: Request, member_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    actor = pages.actor_of(request, signed_in)
    reset = lambda m: manage.reset_passkeys(session, runtime.clock, m, actor=actor)  # noqa: E731
    return _act(request, signed_in, session, runtime, member_id, "passkeys", reset)


@router.post(HOME + "/{member_id}/sessions/{session_id}/revoke", response_class=HTMLResponse)
def revoke_session(
    request: Request, member_id: uuid.UUID, session_id: SessionId, _csrf: CsrfDep,
    signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.require_owner(signed_in)
    actor = pages.actor_of(request, signed_in)
    return _act(request, signed_in, session, runtime, member_id, "revoked",
                lambda m: manage.revoke_session(session, runtime.clock, m, session_id,
                                                actor=actor))  # fmt: skip
