"""Browser sessions: start one after a sign-in, find it from its cookie, end it.

A session ends when its idle or absolute lifetime is over (:data:`rules.LIFETIMES`), when
the person signs out, when the person is erased, and — for staff — when the member is
removed or their role changed (or, on the break-glass path, when the API key they signed in
with is revoked or an owner has joined): :func:`load` checks all of that on every request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safehold.access.models import ApiKey
from safehold.staff import manage
from safehold.staff.models import StaffMember, StaffOidcAttempt, StaffPasskeyCeremony, StaffSignIn
from safehold.subjects.models import Subject
from safehold.web import rules
from safehold.web.models import EmailChange, SignInCode, WebSession
from safehold.web.rules import Kind


@dataclass(frozen=True)
class SignedIn:
    """Who a page is for: a person (``subject_id``), a staff member (``member``), or staff
    signed in with an API key (``api_key``, the break-glass path)."""

    kind: Kind
    session_id: str
    subject_id: uuid.UUID | None = None
    api_key: ApiKey | None = None
    member: StaffMember | None = None


def start(
    session: Session, kind: Kind, *, now: datetime, subject_id: uuid.UUID | None = None,
    api_key_id: str | None = None, member: StaffMember | None = None,
) -> str:  # fmt: skip
    """Record a new session and return its cookie value (shown once, never stored)."""
    token = rules.new_token()
    life = rules.LIFETIMES[kind]
    session.add(
        WebSession(
            id=rules.session_id(token),
            kind=str(kind),
            subject_id=subject_id,
            api_key_id=api_key_id,
            staff_member_id=member.id if member else None,
            staff_role=member.role if member else None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + life.absolute,
        )
    )
    session.flush()
    return token


def load(session: Session, kind: Kind, token: str | None, *, now: datetime) -> SignedIn | None:
    """The live session a cookie names, or None (unknown, expired, idle too long, person
    erased, key revoked). A dead session's row is removed on the way."""
    if not token:
        return None
    row = session.get(WebSession, rules.session_id(token))
    if row is None or row.kind != kind:
        return None
    if not rules.alive(kind, row.created_at, row.last_seen_at, now):
        session.delete(row)
        session.flush()
        return None
    signed_in = _who(session, row)
    if signed_in is None:
        session.delete(row)
        session.flush()
        return None
    if now - row.last_seen_at >= rules.TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    return signed_in


def _who(session: Session, row: WebSession) -> SignedIn | None:
    if row.kind == Kind.PERSON and row.subject_id is not None:
        status = session.scalar(select(Subject.status).where(Subject.id == row.subject_id))
        if status is None or status == "erased":
            return None
        return SignedIn(Kind.PERSON, row.id, subject_id=row.subject_id)
    if row.kind == Kind.STAFF and row.staff_member_id is not None:
        member = session.get(StaffMember, row.staff_member_id)
        if member is None or member.removed_at is not None or member.role != row.staff_role:
            return None
        return SignedIn(Kind.STAFF, row.id, member=member)
    if row.kind == Kind.STAFF and row.api_key_id is not None:
        key = session.get(ApiKey, row.api_key_id)
        if key is None or key.revoked_at is not None or manage.owner_has_joined(session):
            return None
        return SignedIn(Kind.STAFF, row.id, api_key=key)
    return None


def end(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.id == rules.session_id(token)))
        session.flush()


def end_all_for(session: Session, subject_id: uuid.UUID) -> int:
    """Sign a person out everywhere and drop their codes and unconfirmed address changes
    (used by erasure)."""
    ended = session.execute(delete(WebSession).where(WebSession.subject_id == subject_id))
    session.execute(delete(SignInCode).where(SignInCode.subject_id == subject_id))
    session.execute(delete(EmailChange).where(EmailChange.subject_id == subject_id))
    session.flush()
    return int(getattr(ended, "rowcount", 0) or 0)


def purge_expired(session: Session, *, now: datetime) -> int:
    """Remove sessions past their absolute end, codes (staff sign-in attempts, passkey
    challenges and single sign-on round trips too) past their expiry, and address changes
    once the hour they count against has passed."""
    gone = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session.execute(delete(SignInCode).where(SignInCode.expires_at <= now))
    session.execute(delete(StaffSignIn).where(StaffSignIn.expires_at <= now))
    session.execute(delete(StaffPasskeyCeremony).where(StaffPasskeyCeremony.expires_at <= now))
    session.execute(delete(StaffOidcAttempt).where(StaffOidcAttempt.expires_at <= now))
    session.execute(
        delete(EmailChange).where(EmailChange.created_at <= now - rules.SIGN_IN_CODE_WINDOW)
    )
    session.flush()
    return int(getattr(gone, "rowcount", 0) or 0)
