"""The request log. No column holds personal data: the person is their opaque id, reasons
are codes from closed lists, and the certificate lists categories, classes and counts. So the
log can be kept for 24 months after the person is erased, as the proof of the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class DataRequest(Base):
    __tablename__ = "data_requests"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_data_requests_id", "id"),  # found by its id alone (links, the API)
        Index("ix_data_requests_status_deadline", "status", "deadline_at"),
        Index("ix_data_requests_responded_at", "responded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # rules.Kind
    purpose: Mapped[str | None] = mapped_column(String(64))  # what an objection objects to
    channel: Mapped[str] = mapped_column(String(16))  # rules.CHANNELS
    made_by: Mapped[str] = mapped_column(String(16))  # "staff" | "subject"
    actor: Mapped[str] = mapped_column(String(120))  # "api_key:…", "subject:…"
    status: Mapped[str] = mapped_column(String(24))  # rules.Status
    received_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    extended_at: Mapped[datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(String(32))  # rules.EXTENSION_REASONS
    # Set by the extension: the deadline it started from (the first one), and the outbox row
    # of the e-mail telling the person the new deadline and the reason (decision 0029).
    first_deadline_at: Mapped[datetime | None]
    extension_notice_item: Mapped[uuid.UUID | None]
    verified_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]  # the response date (a terminal state reached)
    rejection_reason: Mapped[str | None] = mapped_column(String(32))  # rules.REJECTION_REASONS
    # The one-time code: a keyed hash only, with its expiry and the attempts made on it.
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None]
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)
    # Erasure: the steps done (name -> what it recorded), the runner's lease, the certificate.
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lease_until: Mapped[datetime | None]
    certificate: Mapped[dict[str, Any] | None]
    # Who answers it (a staff member's id, decision 0040) and since when; None: nobody yet.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    assigned_at: Mapped[datetime | None]


class RequestNote(Base):
    """A staff member's internal note on a request: never shown to the person, never in an
    export or a certificate. The text is sealed under the person's data key (an erasure
    makes it unreadable); the row goes with the request log (retention.request_log)."""

    __tablename__ = "request_notes"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    author: Mapped[str] = mapped_column(String(120))  # an audit actor, e.g. "staff:<id>"
    created_at: Mapped[datetime]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class RequestReminder(Base):
    """A reminder e-mail sent (or found to have no one to go to) for one threshold of one
    deadline of a request: the row makes the reminder job send it once."""

    __tablename__ = "request_reminders"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    threshold: Mapped[str] = mapped_column(String(16), primary_key=True)  # rules.Reminder
    deadline_at: Mapped[datetime] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime]
    recipients: Mapped[int] = mapped_column(Integer)  # members e-mailed (0: no one to tell)
