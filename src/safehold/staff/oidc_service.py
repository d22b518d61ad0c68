"""Staff single sign-on use cases (decision 0039): begin a round trip to the identity
provider, take its ``state`` back once, and sign in the member a verified ID token names.
Callers own the transaction; every sign-in, refused or not, writes its audit entry here.

The provider's word replaces both of the e-mailed code and the TOTP: it proved the address
(``email_verified``) and owns the second factor. Nothing is created for an address no
member has: the member must have been invited (or have joined) and not be removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from authlib.common.security import generate_token
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.staff import manage, oidc_rules, service
from safehold.staff.errors import OidcRefused
from safehold.staff.models import StaffMember, StaffOidcAttempt
from safehold.staff.oidc_rules import ClaimRefused
from safehold.staff.rules import Role
from safehold.subjects.errors import InvalidEmail

ROLE_ACTOR = Actor("system", "oidc")  # who changed a role the provider's claim decided


@dataclass(frozen=True)
class Begun:
    state: str  # for the browser: its cookie and the provider's redirect carry it back
    nonce: str
    verifier: str


def _state_id(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def begin(session: Session, ctx: service.Context, next_path: str) -> Begun:
    """Record a round trip: a 256-bit state, nonce and PKCE verifier, good for
    :data:`oidc_rules.ATTEMPT_TTL`."""
    now = ctx.clock.now()
    begun = Begun(generate_token(43), generate_token(43), generate_token(64))
    session.add(
        StaffOidcAttempt(
            id=_state_id(begun.state), nonce=begun.nonce, code_verifier=begun.verifier,
            next_path=next_path[:500], created_at=now, expires_at=now + oidc_rules.ATTEMPT_TTL,
        )
    )  # fmt: skip
    session.flush()
    return begun


def take(session: Session, ctx: service.Context, state: str) -> StaffOidcAttempt:
    """The round trip ``state`` names, marked used: a second use of the same state (a
    replayed redirect) is refused, as is an unknown or expired one."""
    now = ctx.clock.now()
    row = session.scalars(
        select(StaffOidcAttempt).where(StaffOidcAttempt.id == _state_id(state)).with_for_update()
    ).first()
    if row is None or row.used_at is not None or now >= row.expires_at:
        refuse(session, ctx)
        raise OidcRefused.because("state")
    row.used_at = now
    session.flush()
    return row


def refuse(session: Session, ctx: service.Context, member: StaffMember | None = None) -> None:
    """Audit a refused sign-in (the caller commits it, then shows the reason)."""
    who = service.actor_of(member) if member else Actor("system", "console-sign-in")
    _audit(session, ctx, who, "refused")


def _audit(
    session: Session, ctx: service.Context, actor: Actor, outcome: str,
    action: str = service.SIGN_IN,
) -> None:  # fmt: skip
    audit.record(
        session, actor=actor, action=action, subject_id=None, categories=[], purpose=None,
        outcome=outcome, clock=ctx.clock,
    )  # fmt: skip


def sign_in(
    session: Session, ctx: service.Context, claims: Mapping[str, object], role_claim: str | None
) -> StaffMember:
    """The member whose invited address the provider verified, signed in now. With a role
    claim configured, the claim decides the role (a change is audited and ends the member's
    other sessions, as any role change does)."""
    now = ctx.clock.now()
    member: StaffMember | None = None
    try:
        address = oidc_rules.verified_email(claims)
        try:
            member = service.find(session, ctx, address)
        except InvalidEmail:  # an address the registration rules refuse: no member has it
            member = None
        if member is None or not service.may_sign_in(member, now):
            member = None
            raise ClaimRefused("unknown_member")
        if role_claim is not None:
            _take_role(session, ctx, member, oidc_rules.role_from_claim(claims.get(role_claim)))
    except ClaimRefused as exc:
        refuse(session, ctx, member)
        raise OidcRefused.because(exc.reason) from None
    member.joined_at = member.joined_at or now
    member.invite_expires_at = None
    member.last_sign_in_at = now
    session.flush()
    _audit(session, ctx, service.actor_of(member), "ok")
    return member


def _take_role(session: Session, ctx: service.Context, member: StaffMember, role: Role) -> None:
    if member.role == role:
        return
    if member.role == Role.OWNER and _active_owners(session) == 1:
        raise ClaimRefused("last_owner")
    member.role = str(role)
    manage.end_sessions(session, member.id)
    _audit(session, ctx, ROLE_ACTOR, "ok", action=f"staff.role.{role}")


def _active_owners(session: Session) -> int:
    owners = select(StaffMember.id).where(
        StaffMember.role == Role.OWNER, StaffMember.removed_at.is_(None)
    )
    return len(session.scalars(owners).all())
