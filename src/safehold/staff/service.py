"""Staff use cases: the first owner, invitations, the list, removal, and the two steps of
signing in (an e-mailed code, then a TOTP). Callers own the transaction; every mutation
writes its audit entry here, in the same transaction.

Sign-in mirrors the privacy center's (decision 0019): asking for a code does the same work
for any address — one attempt row, whose code hash is a placeholder no typed code matches
unless the address is a member's who may sign in now — so the answer never says whether
the address is a member's (the e-mail's sending time aside: decision 0038).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safehold import keys
from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.requests import rules as codes
from safehold.runtime import Runtime
from safehold.staff import addresses, mail, manage, rules
from safehold.staff.errors import MemberExists, MemberNotFound, OwnerExists, SignInRefused
from safehold.staff.models import StaffMember, StaffPasskey, StaffSignIn
from safehold.staff.rules import Role
from safehold.subjects.rules import normalise_email
from safehold.vault.service import Vault
from safehold.web import rules as web_rules

EMAIL_KIND = "staff.email"  # the blind index's domain: never equal to a person's index
SIGN_IN = "console.sign_in"
_CODE_INFO = b"safehold/staff/sign-in-code/v1"
_TOTP_INFO = b"safehold/staff/totp-secret/v1"


@dataclass(frozen=True)
class Context:
    vault: Vault
    clock: Clock
    send: mail.Send
    operator: str
    base_url: str


def context(runtime: Runtime) -> Context:
    operator = runtime.policy.policy.operator
    send = mail.sender(runtime.settings, operator, runtime.clock.now)
    return Context(runtime.vault, runtime.clock, send, operator, runtime.settings.base_url)


def email_index(ctx: Context, address: str) -> str:
    """The member index of an address (InvalidEmail, ConfusableEmail as registration)."""
    return ctx.vault.index(EMAIL_KIND, normalise_email(address))


def _audit(session: Session, ctx: Context, actor: Actor, action: str, outcome: str) -> None:
    audit.record(
        session, actor=actor, action=action, subject_id=None, categories=[], purpose=None,
        outcome=outcome, clock=ctx.clock,
    )  # fmt: skip


def actor_of(member: StaffMember, request_id: str | None = None) -> Actor:
    return Actor("staff", str(member.id), request_id=request_id, role=member.role)


def find(session: Session, ctx: Context, address: str) -> StaffMember | None:
    index = email_index(ctx, address)
    return session.scalars(select(StaffMember).where(StaffMember.email_index == index)).first()


def invite(
    session: Session, ctx: Context, address: str, *, name: str, role: Role, actor: Actor
) -> StaffMember:
    """Make ``address`` a member with ``role`` who may sign in within
    :data:`rules.INVITATION_TTL`, and e-mail them. A removed member's address is invited
    afresh (a new authenticator, the same id so old audit entries still name them)."""
    index, now = email_index(ctx, address), ctx.clock.now()
    member = session.scalars(select(StaffMember).where(StaffMember.email_index == index)).first()
    if member is not None and member.removed_at is None:
        raise MemberExists("that address is already a staff member's", details={})
    if member is None:
        member = StaffMember(id=uuid.uuid4(), email_index=index)
        session.add(member)
    member.name, member.role, member.invited_by = name.strip()[:120], str(role), str(actor)
    member.created_at, member.invite_expires_at = now, now + rules.INVITATION_TTL
    member.joined_at = member.last_sign_in_at = member.removed_at = None
    member.totp_sealed = member.totp_confirmed_at = member.totp_last_step = None
    session.execute(delete(StaffPasskey).where(StaffPasskey.member_id == member.id))
    addresses.keep(ctx.vault, member, address)
    session.flush()
    manage.record(session, ctx.clock, actor, f"staff.invite.{role}", member.id)
    days = rules.INVITATION_TTL.days
    link = f"{ctx.base_url.rstrip('/')}/admin/sign-in"
    text = mail.invitation_text(ctx.operator, rules.ROLES[role].label, link, days)
    ctx.send(address, f"Your invitation to the {ctx.operator} admin console", text)
    return member


def create_owner(
    session: Session, ctx: Context, address: str, *, name: str, actor: Actor
) -> StaffMember:
    """The first owner; refused once an owner exists (who then invites the others)."""
    if manage.active_owners(session):
        raise OwnerExists("an owner exists: they invite further staff", details={})
    return invite(session, ctx, address, name=name, role=Role.OWNER, actor=actor)


def members(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).order_by(StaffMember.created_at)))


def _current(session: Session, ctx: Context, address: str) -> StaffMember:
    member = find(session, ctx, address)
    if member is None or member.removed_at is not None:
        raise MemberNotFound("no staff member has that address", details={})
    return member


def remove(session: Session, ctx: Context, address: str, *, actor: Actor) -> StaffMember:
    """End the member's access at once (:func:`manage.remove`)."""
    member = _current(session, ctx, address)
    manage.remove(session, ctx.clock, member, actor=actor)
    return member


def change_role(
    session: Session, ctx: Context, address: str, role: Role, *, actor: Actor
) -> StaffMember:
    """Give a member another role; their sessions end (:func:`manage.change_role`)."""
    member = _current(session, ctx, address)
    manage.change_role(session, ctx.clock, member, role, actor=actor)
    return member


def reset_totp(session: Session, ctx: Context, address: str, *, actor: Actor) -> StaffMember:
    """Forget the member's authenticator (:func:`manage.reset_totp`)."""
    member = _current(session, ctx, address)
    manage.reset_totp(session, ctx.clock, member, actor=actor)
    return member


def may_sign_in(member: StaffMember, now: datetime) -> bool:
    if member.removed_at is not None:
        return False
    if member.joined_at is not None:
        return True
    return member.invite_expires_at is not None and now < member.invite_expires_at


def _code_key(ctx: Context) -> bytes:
    return keys.derive(ctx.vault.provider.index_key(), _CODE_INFO)


def request_code(session: Session, ctx: Context, address: str) -> uuid.UUID:
    """Record an attempt for ``address``; e-mail a code when it is a member's who may sign in."""
    member = find(session, ctx, address)
    now, attempt = ctx.clock.now(), uuid.uuid4()
    code = codes.new_code() if member and may_sign_in(member, now) else None
    hashed = code or web_rules.unmatchable_code()  # no typed code matches the placeholder
    session.add(
        StaffSignIn(
            id=attempt, member_id=member.id if code and member else None,
            code_hash=codes.hash_code(_code_key(ctx), attempt, hashed),
            created_at=now, expires_at=now + rules.SIGN_IN_CODE_TTL, code_tries=0, totp_tries=0,
        )
    )  # fmt: skip
    session.flush()
    if code is not None and member is not None:
        addresses.keep(ctx.vault, member, address)  # typed, and it matched their index
        minutes = int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)
        text = mail.code_text(ctx.operator, code, minutes)
        ctx.send(address, "Your admin console sign-in code", text)
    return attempt


def _attempt(session: Session, attempt: uuid.UUID, now: datetime) -> StaffSignIn:
    row = session.scalars(
        select(StaffSignIn).where(StaffSignIn.id == attempt).with_for_update()
    ).first()
    if row is None:
        raise SignInRefused("that code is not right", details={})
    if row.used_at is not None:
        raise SignInRefused("that sign-in was completed: start again", details={})
    if now >= row.expires_at:
        raise SignInRefused("that sign-in has expired: ask for a new code", details={})
    return row


def check_code(session: Session, ctx: Context, attempt: uuid.UUID, code: str) -> StaffMember:
    """The member a correct e-mailed code belongs to (the attempt then waits for the TOTP)."""
    now = ctx.clock.now()
    row = _attempt(session, attempt, now)
    if row.code_tries >= rules.SIGN_IN_CODE_TRIES:
        raise SignInRefused("too many wrong codes: ask for a new one", details={})
    right = codes.hash_code(_code_key(ctx), row.id, code) == row.code_hash
    member = session.get(StaffMember, row.member_id) if row.member_id else None
    if not right or member is None or not may_sign_in(member, now):
        row.code_tries += 1
        session.flush()
        who = actor_of(member) if member else Actor("system", "console-sign-in")
        _audit(session, ctx, who, SIGN_IN, "refused")
        raise SignInRefused("that code is not right", details={})
    row.code_ok_at = now
    session.flush()
    return member


def enrolment(session: Session, ctx: Context, member: StaffMember) -> str | None:
    """A new TOTP secret for a member who has not confirmed one (shown once, stored sealed);
    None for a member who has."""
    if member.totp_confirmed_at is not None:
        return None
    secret = rules.new_totp_secret()
    member.totp_sealed = _seal(ctx, member.id, secret)
    session.flush()
    return secret


def check_totp(session: Session, ctx: Context, attempt: uuid.UUID, code: str) -> StaffMember:
    """Complete a sign-in whose e-mailed code was right: the member, once the TOTP is a live
    step's and not a replay."""
    now = ctx.clock.now()
    row = _attempt(session, attempt, now)
    # The member's row is locked: two sign-ins sending one code at once accept it once.
    member = (
        session.get(StaffMember, row.member_id, with_for_update=True, populate_existing=True)
        if row.member_id
        else None
    )
    if row.code_ok_at is None or member is None or member.totp_sealed is None:
        raise SignInRefused("enter the e-mailed code first", details={})
    if row.totp_tries >= rules.TOTP_TRIES or not may_sign_in(member, now):
        raise SignInRefused("too many wrong codes: start again", details={})
    secret = _unseal(ctx, member.id, member.totp_sealed)
    checked = rules.check_totp(secret, code, now, member.totp_last_step)
    if checked.step is None:
        row.totp_tries += 1
        session.flush()
        _audit(session, ctx, actor_of(member), SIGN_IN, "refused")
        reason = (
            "that code was used already: wait for the next one"
            if checked.replayed
            else "that code is not right"
        )
        raise SignInRefused(reason, details={})
    row.used_at = now
    member.totp_last_step = checked.step
    member.totp_confirmed_at = member.totp_confirmed_at or now
    member.joined_at = member.joined_at or now
    member.invite_expires_at = None
    member.last_sign_in_at = now
    session.flush()
    _audit(session, ctx, actor_of(member), SIGN_IN, "ok")
    return member


def _totp_key(ctx: Context) -> AESGCM:
    return AESGCM(keys.derive(ctx.vault.provider.index_key(), _TOTP_INFO))


def _seal(ctx: Context, member_id: uuid.UUID, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _totp_key(ctx).encrypt(nonce, secret.encode(), member_id.bytes)


def _unseal(ctx: Context, member_id: uuid.UUID, sealed: bytes) -> str:
    return _totp_key(ctx).decrypt(sealed[:12], sealed[12:], member_id.bytes).decode()
