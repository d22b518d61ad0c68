"""What an owner does to a member, by the member's id (the console) or address (the CLI,
through :mod:`safehold.staff.service`): change their role, remove them, reset their
authenticator, list and revoke their sessions; and whether the API key's break-glass sign-in
is still open.

Every mutation writes its audit entry here, in the caller's transaction. The entry's action
names the member acted on (``staff.remove:<member id>``); its actor is whoever acted, a
member with their role (``staff:<id>/owner``) or the CLI (``admin:cli``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.staff.errors import LastOwner, MemberNotFound, NoAuthenticator, SessionNotFound
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role
from safehold.web import rules as web_rules
from safehold.web.models import WebSession


def record(session: Session, clock: Clock, actor: Actor, action: str, target: uuid.UUID) -> None:
    audit.record(
        session, actor=actor, action=f"{action}:{target}", subject_id=None, categories=[],
        purpose=None, outcome="ok", clock=clock,
    )  # fmt: skip


def active_owners(session: Session) -> list[StaffMember]:
    query = select(StaffMember).where(
        StaffMember.role == Role.OWNER, StaffMember.removed_at.is_(None)
    )
    return list(session.scalars(query))


def owner_has_joined(session: Session) -> bool:
    """Whether an owner who is not removed has completed a sign-in: from then on the console
    is for members only and an API key no longer signs in (decision 0042)."""
    return any(owner.joined_at is not None for owner in active_owners(session))


def member(session: Session, member_id: uuid.UUID) -> StaffMember:
    """A member who is not removed (removed ones are listed, but nothing is done to them)."""
    found = session.get(StaffMember, member_id)
    if found is None or found.removed_at is not None:
        raise MemberNotFound("no current staff member has that id", details={})
    return found


def end_sessions(session: Session, member_id: uuid.UUID) -> int:
    ended = session.execute(delete(WebSession).where(WebSession.staff_member_id == member_id))
    session.flush()
    return int(getattr(ended, "rowcount", 0) or 0)


def _keep_an_owner(session: Session, target: StaffMember, what: str) -> None:
    if target.role == Role.OWNER and len(active_owners(session)) == 1:
        raise LastOwner(f"the last owner {what}: make another owner first", details={})


def remove(session: Session, clock: Clock, target: StaffMember, *, actor: Actor) -> None:
    """End the member's access at once: removed, every session ended. The last owner stays."""
    _keep_an_owner(session, target, "cannot be removed")
    target.removed_at = clock.now()
    end_sessions(session, target.id)
    _passkeys_removed(session, target.id)
    record(session, clock, actor, "staff.remove", target.id)


def reset_passkeys(session: Session, clock: Clock, target: StaffMember, *, actor: Actor) -> int:
    """Remove every passkey of the member (lost or exposed devices) and end their sessions;
    they sign in with the e-mailed code and their authenticator app, and may register new
    passkeys then. How many were removed."""
    removed = _passkeys_removed(session, target.id)
    if not removed:
        raise NoAuthenticator("that member has no passkey", details={})
    end_sessions(session, target.id)
    record(session, clock, actor, "staff.passkey_reset", target.id)
    return removed


def _passkeys_removed(session: Session, member_id: uuid.UUID) -> int:
    from safehold.staff.passkeys import remove_passkeys  # passkeys imports service, then us

    return remove_passkeys(session, member_id)


def change_role(
    session: Session, clock: Clock, target: StaffMember, role: Role, *, actor: Actor
) -> bool:
    """Give a member another role; their sessions end (they sign in again under it). False
    when they hold it already (nothing changes, nothing is audited)."""
    if target.role == role:
        return False
    _keep_an_owner(session, target, "keeps the role")
    target.role = str(role)
    end_sessions(session, target.id)
    record(session, clock, actor, f"staff.role.{role}", target.id)
    return True


def reset_totp(session: Session, clock: Clock, target: StaffMember, *, actor: Actor) -> None:
    """Forget the member's authenticator and end their sessions. Their next sign-in, after
    the e-mailed code, enrols a new one exactly as a first sign-in does (a new secret shown
    once); a code of the old app no longer signs in, whoever holds it."""
    if target.totp_sealed is None:
        raise NoAuthenticator("that member has not set up an authenticator yet", details={})
    target.totp_sealed = target.totp_confirmed_at = target.totp_last_step = None
    end_sessions(session, target.id)
    record(session, clock, actor, "staff.totp_reset", target.id)


@dataclass(frozen=True)
class LiveSession:
    id: str  # the SHA-256 of its cookie: naming it reveals no usable cookie
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def sessions_of(session: Session, member_id: uuid.UUID, now: datetime) -> list[LiveSession]:
    """The member's sessions still alive now, newest first."""
    rows = session.scalars(
        select(WebSession)
        .where(WebSession.staff_member_id == member_id)
        .order_by(WebSession.created_at.desc())
    )
    kind = web_rules.Kind.STAFF
    return [
        LiveSession(r.id, r.created_at, r.last_seen_at, r.expires_at)
        for r in rows
        if web_rules.alive(kind, r.created_at, r.last_seen_at, now)
    ]


def revoke_session(
    session: Session, clock: Clock, target: StaffMember, session_id: str, *, actor: Actor
) -> None:
    """End one of the member's sessions (its next request goes to the sign-in page)."""
    ended = session.execute(
        delete(WebSession).where(
            WebSession.id == session_id, WebSession.staff_member_id == target.id
        )
    )
    if not getattr(ended, "rowcount", 0):
        raise SessionNotFound("that session has ended already", details={})
    session.flush()
    record(session, clock, actor, "staff.session_revoke", target.id)
