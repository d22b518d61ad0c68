"""Staff members and their sign-in attempts.

A member's e-mail address is not stored: only its keyed blind index (like a person's), so
a code is e-mailed to the address typed on the sign-in page, which matched the index. The
name is stored as given (it is shown in the console and the CLI). The TOTP secret is sealed
(AES-256-GCM under a key derived from the vault's index key, bound to the member's id). A
removed member keeps their row, so the audit entries naming ``staff:<id>`` still say who.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(24))
    invited_by: Mapped[str] = mapped_column(String(80))  # an audit actor, e.g. "admin:cli"
    created_at: Mapped[datetime]
    invite_expires_at: Mapped[datetime | None]  # until the first sign-in (then None)
    joined_at: Mapped[datetime | None]  # the first complete sign-in
    last_sign_in_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[datetime | None]  # a code of the secret was entered once
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # replays refused up to here
    # The address, sealed like the TOTP secret, for reminders sent by the worker (0040).
    email_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class StaffSignIn(Base):
    """One sign-in attempt: the e-mailed code's keyed hash (a placeholder no typed code can
    match when the address is no member's), then the TOTP step."""

    __tablename__ = "staff_sign_ins"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the attempt id the pages carry
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_members.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    code_tries: Mapped[int] = mapped_column(Integer, default=0)
    code_ok_at: Mapped[datetime | None]
    totp_tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]


class StaffPasskey(Base):
    """A member's passkey (WebAuthn credential, decision 0041): its id and public key as the
    authenticator gave them, the last signature counter seen (a counter that goes back is
    refused), its transports (hints for the browser) and the name the member gave it."""

    __tablename__ = "staff_passkeys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # what the pages carry
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE, as registered
    sign_count: Mapped[int] = mapped_column(Integer)
    transports: Mapped[str] = mapped_column(String(120))  # comma-separated, may be empty
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class StaffPasskeyCeremony(Base):
    """One WebAuthn ceremony: the challenge the browser must sign, single-use and short-lived.
    ``register`` names a member (signed in, or finishing a sign-in under ``passkey``);
    ``sign_in`` names nobody until a passkey answers."""

    __tablename__ = "staff_passkey_ceremonies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the id the page carries
    kind: Mapped[str] = mapped_column(String(16))  # "register" | "sign_in"
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_members.id"))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    signs_in: Mapped[bool]  # a registration that completes a sign-in (SAFEHOLD_STAFF_2FA=passkey)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffOidcAttempt(Base):
    """One single sign-on round trip to the identity provider (decision 0039): the keyed
    hash of its ``state`` (the browser holds the state itself, in a cookie and in the
    provider's redirect), the ``nonce`` the ID token must carry and the PKCE verifier. Used
    once: a replayed state finds ``used_at`` set."""

    __tablename__ = "staff_oidc_attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # keyed hash of the state
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
