"""Communication: marketing choices, messages, the outbox (one row per recipient) and the
suppression list. No column holds a plaintext address or a rendered e-mail: recipients are
rendered from the vault by the worker, at the moment of sending. A per-recipient secret (a
verification code) is held only encrypted, and only until the row's delivery is settled."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class MarketingChoice(Base):
    """One marketing choice a person made: a history of records, not a flag.

    The latest record (by ``at``, then ``id``) is in force; the earlier ones prove what the
    person chose when, through which channel, under which policy version."""

    __tablename__ = "marketing_choices"
    __table_args__ = (PrimaryKeyConstraint("subject_id", "id"),)  # by person: safehold.sharding

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    choice: Mapped[str] = mapped_column(String(16))  # "opted_in" | "opted_out"
    at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(32))  # "sign_up", "api", "privacy_center", …
    actor: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    # What the choice came through, e.g. the outbox row whose unsubscribe link was used.
    reference: Mapped[str | None] = mapped_column(String(64), default=None)


class Message(Base):
    """A message as submitted: its kind, purpose and templates (no personal data)."""

    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(80))
    audience: Mapped[str] = mapped_column(String(8))  # "ids" | "all"
    subject_template: Mapped[str] = mapped_column(Text)
    text_template: Mapped[str] = mapped_column(Text)
    html_template: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str] = mapped_column(String(64))


class OutboxItem(Base):
    """One recipient of one message, and where its delivery stands.

    ``next_attempt_at`` is when a queued row is due, or, while ``sending``, when its lease
    ends (a worker that died leaves the row to be claimed again)."""

    __tablename__ = "outbox_items"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_outbox_items_id", "id"),  # found by its id alone (unsubscribe links)
        Index("ix_outbox_items_due", "status", "next_attempt_at"),
        Index("ix_outbox_items_subject_status", "subject_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(80))  # why skipped/suppressed/failed/retried
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claim_token: Mapped[uuid.UUID | None]
    claimed_by: Mapped[str | None] = mapped_column(String(120))  # host:pid of the worker
    mail_message_id: Mapped[str] = mapped_column(String(255))  # RFC 5322 Message-ID, stable
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The recipient's ``{{ secret }}``, vault-encrypted under their ``account.email`` key and
    # bound to this row; NULL once the row is sent, failed for good, skipped or suppressed.
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Where to send instead of the account's address (a new address being confirmed, the old
    # one being told of a change): vault-encrypted like the secret, with its blind index for
    # the suppression list; NULL for every ordinary row, once the delivery is settled, and
    # at the person's erasure.
    sealed_recipient: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    recipient_index: Mapped[str | None] = mapped_column(String(64), default=None)


class Suppression(Base):
    """An address that must not receive (some) mail, held only as its keyed blind index."""

    __tablename__ = "mail_suppressions"

    email_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # SuppressionKind
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))  # "api", "cli", "erasure"
