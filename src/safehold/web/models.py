"""Sign-in state of the web pages: browser sessions and the one-time sign-in codes.

Neither table holds personal data in the clear: a session row is the SHA-256 of its cookie
(a stolen database yields no usable cookie) and names a person by their opaque id or a staff
member by their id (on the break-glass path, by their API key's id); a code row keeps a
keyed hash of the code, for a person their id, and until the worker has handled it the
blind index of the address it was asked for. Rows are short-lived and removed when they
end (:mod:`safehold.web.sessions`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(cookie) hex
    kind: Mapped[str] = mapped_column(String(8))  # "person" | "staff"
    # no foreign key: a look-up table of its own (safehold.sharding); erasure ends them
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(32))  # staff: the key signed in with
    # staff: the member signed in, and their role then (a changed role ends the session)
    staff_member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_members.id"), index=True
    )
    staff_role: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # absolute end; idle end = last_seen_at + the idle limit


class SignInCode(Base):
    """A sign-in attempt: someone asked for a code for an address (decision 0019).

    Every request makes one, account or not. Until the worker has handled it
    (``handled_at``), it keeps the address's blind index (``address_index``) and the hash of
    a placeholder no typed code matches; the worker then drops the index and, for an account
    that may have a code now, puts the e-mailed code's hash and the person's id in. Checking
    a code reads this row alone, so every attempt counts wrong codes and expires the same way.
    """

    __tablename__ = "web_sign_in_codes"
    __table_args__ = (
        Index("ix_web_sign_in_codes_subject_created", "subject_id", "created_at"),
        Index("ix_web_sign_in_codes_handled_at", "handled_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the attempt id the page carries
    subject_id: Mapped[uuid.UUID | None] = mapped_column()  # mailed to (no foreign key: above)
    address_index: Mapped[str | None] = mapped_column(String(64))  # until the worker handles it
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]  # when the worker looked the address up
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]


class EmailChange(Base):
    """A new sign-in address a person asked for in the privacy center, not yet confirmed
    (decision 0024). It takes effect only when the code e-mailed to it is entered.

    The address is held vault-encrypted under the person's ``account.email`` key (erasure
    makes it unreadable) and as its blind index (to refuse another account's address); the
    code as its keyed hash, like a sign-in code. One change per person waits: asking again
    replaces it (the replaced row loses its address and its code stops working). A row keeps
    counting against the hourly limit until ``purge_expired`` removes it an hour after it was
    made; erasure removes the person's rows at once."""

    __tablename__ = "web_email_changes"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_web_email_changes_subject_created", "subject_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    sealed_address: Mapped[bytes] = mapped_column(LargeBinary)
    address_index: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]  # confirmed (its address then emptied)
