"""Staff passkeys (decision 0041): registering one, signing in with one, the member's list,
removing one or all. Callers own the transaction; every change writes its audit entry here.

Every ceremony's challenge is a row (:class:`StaffPasskeyCeremony`): spent by the first
answer, right or wrong, and dead after :data:`rules.CEREMONY_TTL`. The relying party is
SAFEHOLD_BASE_URL's host and origin. Sign-in asks for a discoverable passkey (no address
typed first): the passkey names its member, and its user handle must agree. Every check asks
for user verification (the authenticator's PIN or biometric), so a passkey is two factors.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.staff import passkey_rules as rules
from safehold.staff import service
from safehold.staff.errors import PasskeyNotFound, PasskeyRefused
from safehold.staff.models import StaffMember, StaffPasskey, StaffPasskeyCeremony

SIGN_IN = service.SIGN_IN
REGISTER, AUTHENTICATE = "register", "sign_in"
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}
_NOBODY = Actor("system", "console-sign-in")
# What a malformed or unverified answer raises (the library's own errors; base64, CBOR and
# JSON decoding errors are ValueErrors): each is the same refusal.
_UNVERIFIED = (WebAuthnException, ValueError, TypeError, KeyError)


@dataclass(frozen=True)
class Ceremony:
    id: uuid.UUID
    options_json: str  # PublicKeyCredential{Creation,Request}Options, as the browser parses them


def _audit(session: Session, ctx: service.Context, actor: Actor, action: str, outcome: str) -> None:
    audit.record(
        session, actor=actor, action=action, subject_id=None, categories=[], purpose=None,
        outcome=outcome, clock=ctx.clock,
    )  # fmt: skip


def passkeys_of(session: Session, member_id: uuid.UUID) -> list[StaffPasskey]:
    query = select(StaffPasskey).where(StaffPasskey.member_id == member_id)
    return list(session.scalars(query.order_by(StaffPasskey.created_at)))


def has_passkey(session: Session, member_id: uuid.UUID) -> bool:
    count = session.scalar(
        select(func.count()).select_from(StaffPasskey).where(StaffPasskey.member_id == member_id)
    )
    return bool(count)


def _start(
    session: Session, ctx: service.Context, kind: str, member: StaffMember | None, signs_in: bool
) -> StaffPasskeyCeremony:
    now = ctx.clock.now()
    row = StaffPasskeyCeremony(
        id=uuid.uuid4(), kind=kind, member_id=member.id if member else None,
        challenge=os.urandom(32), signs_in=signs_in, created_at=now,
        expires_at=now + rules.CEREMONY_TTL,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def begin_registration(
    session: Session, ctx: service.Context, member: StaffMember, *, signs_in: bool = False
) -> Ceremony:
    """A challenge for ``member`` to create a passkey on this site; their passkeys are
    excluded (an authenticator holding one says so instead of making a second)."""
    if len(passkeys_of(session, member.id)) >= rules.MAX_PASSKEYS:
        raise PasskeyRefused(
            f"you have {rules.MAX_PASSKEYS} passkeys: remove one before adding another",
            details={},
        )
    row = _start(session, ctx, REGISTER, member, signs_in)
    rp = rules.relying_party(ctx.base_url)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=f"{ctx.operator} admin console", user_id=member.id.bytes,
        user_name=member.name, user_display_name=member.name, challenge=row.challenge,
        timeout=rules.TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=key.credential_id)
            for key in passkeys_of(session, member.id)
        ],
    )  # fmt: skip
    return Ceremony(row.id, options_to_json(options))


def begin_sign_in(session: Session, ctx: service.Context) -> Ceremony:
    """A challenge any of this site's passkeys may answer (the passkey names its member)."""
    row = _start(session, ctx, AUTHENTICATE, None, False)
    options = generate_authentication_options(
        rp_id=rules.relying_party(ctx.base_url).id, challenge=row.challenge,
        timeout=rules.TIMEOUT_MS, user_verification=UserVerificationRequirement.REQUIRED,
    )  # fmt: skip
    return Ceremony(row.id, options_to_json(options))


def _spend(
    session: Session, ctx: service.Context, ceremony_id: uuid.UUID, kind: str
) -> StaffPasskeyCeremony:
    """The ceremony, spent now: a second answer to its challenge is refused."""
    now = ctx.clock.now()
    row = session.scalars(
        select(StaffPasskeyCeremony).where(StaffPasskeyCeremony.id == ceremony_id).with_for_update()
    ).first()
    if row is None or row.kind != kind:
        raise PasskeyRefused("that passkey request is unknown: start again", details={})
    if row.used_at is not None:
        raise PasskeyRefused("that passkey request was answered already: start again", details={})
    if now >= row.expires_at:
        raise PasskeyRefused("that passkey request has expired: start again", details={})
    row.used_at = now
    session.flush()
    return row


def _transports(response: Any) -> str:
    found = getattr(getattr(response, "response", None), "transports", None) or []
    names = [str(getattr(t, "value", t)) for t in found]
    return ",".join(sorted({n for n in names if n in _TRANSPORTS}))[:120]


def finish_registration(
    session: Session, ctx: service.Context, ceremony_id: uuid.UUID, response_json: str,
    name: str, *, member_id: uuid.UUID | None,
) -> tuple[StaffMember, StaffPasskey]:  # fmt: skip
    """Keep the passkey the browser made for the ceremony's member. ``member_id`` is the
    signed-in member's (None: the ceremony finishes a sign-in and names its member)."""
    row = _spend(session, ctx, ceremony_id, REGISTER)
    now = ctx.clock.now()
    member = session.get(StaffMember, row.member_id) if row.member_id else None
    if (
        member is None
        or (member_id is not None and member.id != member_id)
        or (member_id is None and not row.signs_in)
    ):
        raise PasskeyRefused("that passkey request is someone else's: start again", details={})
    if not service.may_sign_in(member, now):
        raise PasskeyRefused("this member may not sign in", details={})
    rp = rules.relying_party(ctx.base_url)
    try:
        parsed = parse_registration_credential_json(response_json)
        verified = verify_registration_response(
            credential=parsed, expected_challenge=row.challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True,
        )  # fmt: skip
    except _UNVERIFIED:
        _audit(session, ctx, service.actor_of(member), "staff.passkey.add", "refused")
        raise PasskeyRefused("the passkey could not be verified: try again", details={}) from None
    taken = session.scalar(
        select(StaffPasskey.id).where(StaffPasskey.credential_id == verified.credential_id)
    )
    if taken is not None:
        raise PasskeyRefused("that passkey is registered already", details={})
    passkey = StaffPasskey(
        id=uuid.uuid4(), member_id=member.id, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
        transports=_transports(parsed), name=name, created_at=now, last_used_at=None,
    )  # fmt: skip
    session.add(passkey)
    session.flush()
    _audit(session, ctx, service.actor_of(member), "staff.passkey.add", "ok")
    return member, passkey


def finish_sign_in(
    session: Session, ctx: service.Context, ceremony_id: uuid.UUID, response_json: str
) -> StaffMember:
    """The member whose passkey answered the ceremony's challenge for this site, with a
    counter ahead of the last one seen."""
    row = _spend(session, ctx, ceremony_id, AUTHENTICATE)
    now = ctx.clock.now()
    try:
        parsed = parse_authentication_credential_json(response_json)
    except _UNVERIFIED:
        _audit(session, ctx, _NOBODY, SIGN_IN, "refused")
        raise PasskeyRefused("the passkey could not be verified: try again", details={}) from None
    passkey = session.scalars(
        select(StaffPasskey).where(StaffPasskey.credential_id == parsed.raw_id).with_for_update()
    ).first()
    member = session.get(StaffMember, passkey.member_id) if passkey else None
    if passkey is None or member is None or not service.may_sign_in(member, now):
        _audit(session, ctx, _NOBODY, SIGN_IN, "refused")
        raise PasskeyRefused("that passkey is not one of this console's", details={})
    handle, rp = parsed.response.user_handle, rules.relying_party(ctx.base_url)
    try:
        if handle is not None and handle != member.id.bytes:
            raise ValueError("the user handle names another member")
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=row.challenge,
            expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count, require_user_verification=True,
        )  # fmt: skip
    except _UNVERIFIED:  # wrong site, signature, counter or handle: one refusal
        _audit(session, ctx, service.actor_of(member), SIGN_IN, "refused")
        raise PasskeyRefused("the passkey could not be verified: try again", details={}) from None
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
    member.last_sign_in_at = now
    session.flush()
    _audit(session, ctx, service.actor_of(member), SIGN_IN, "ok")
    return member


def remove_passkey(
    session: Session, ctx: service.Context, member: StaffMember, passkey_id: uuid.UUID
) -> None:
    """Remove one of ``member``'s own passkeys (another's is not found)."""
    passkey = session.get(StaffPasskey, passkey_id)
    if passkey is None or passkey.member_id != member.id:
        raise PasskeyNotFound("you have no passkey with that id", details={})
    session.delete(passkey)
    session.flush()
    _audit(session, ctx, service.actor_of(member), "staff.passkey.remove", "ok")


def remove_passkeys(session: Session, member_id: uuid.UUID) -> int:
    """Remove every passkey of a member (an owner's reset, a removal, a re-invitation); the
    caller audits the action that asked for it. How many were removed."""
    removed = session.execute(delete(StaffPasskey).where(StaffPasskey.member_id == member_id))
    session.execute(delete(StaffPasskeyCeremony).where(StaffPasskeyCeremony.member_id == member_id))
    session.flush()
    return int(getattr(removed, "rowcount", 0) or 0)
