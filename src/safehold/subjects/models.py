from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class Subject(Base):
    """A person. The id is random and opaque; no column holds a plaintext personal value —
    email and phone exist only as keyed blind indexes for uniqueness and look-up."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # active | closed | restricted | erased
    # the person's own copy; the address look-up (and its uniqueness) is ``EmailLookup``
    email_index: Mapped[str | None] = mapped_column(String(64))
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    policy_version_shown: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]


class EmailLookup(Base):
    """Which person an e-mail blind index belongs to: the look-up by address, one account per
    address (the primary key). A table of its own, distributed by the index, so that
    ``subjects`` needs no unique key but its id (``safehold.sharding``). Written with
    ``Subject.email_index`` by the same functions (``subjects.service``, erasure)."""

    __tablename__ = "email_lookup"

    email_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)  # erasure's check: none left


class PersonalValue(Base):
    """One personal field, AES-256-GCM encrypted under the person's data key for the field's
    retention class, bound to (person, category, field)."""

    __tablename__ = "personal_values"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    retention_class: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(120))  # "person:…" or "operator:…"


class PaymentMethod(Base):
    """A card as the processor knows it: token, brand, last 4 and expiry — never the number.
    The processor's name is not personal; every other field is encrypted."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_payment_methods_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    processor: Mapped[str] = mapped_column(String(64))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    brand: Mapped[bytes] = mapped_column(LargeBinary)
    last4: Mapped[bytes] = mapped_column(LargeBinary)
    expiry: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class Restriction(Base):
    """A restriction of processing (GDPR Art. 18), applied by staff on a verified request and
    in force until lifted. While one is in force the person's status is ``restricted``.
    No column holds personal data (reasons are codes from closed lists in
    ``subjects.rules``): like the request log, the record proves what was done."""

    __tablename__ = "restrictions"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        UniqueConstraint("subject_id", "request_id"),  # one per request
        Index("ix_restrictions_request_id", "request_id"),  # found by the request's id alone
        ForeignKeyConstraint(
            ["subject_id", "request_id"], ["data_requests.subject_id", "data_requests.id"]
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    request_id: Mapped[uuid.UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(32))  # rules.RESTRICTION_REASONS
    applied_at: Mapped[datetime]
    applied_by: Mapped[str] = mapped_column(String(120))
    # Art. 18(3): the person is told before the lift; the outbox row of that e-mail.
    lift_reason: Mapped[str | None] = mapped_column(String(32))  # rules.LIFT_REASONS
    lift_notice_at: Mapped[datetime | None]
    lift_notice_item: Mapped[uuid.UUID | None]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(120))


class KeptRead(Base):
    """A read of what an erasure kept, under a legal obligation, with the reference it
    answers (the audit entry of the same read has no room for one). No personal value: the
    person by opaque id, the data by category. No foreign key, like the disclosure records:
    it is the controller's proof of why kept data was opened."""

    __tablename__ = "kept_reads"
    __table_args__ = (PrimaryKeyConstraint("subject_id", "id"),)  # by person: safehold.sharding

    id: Mapped[uuid.UUID] = mapped_column()
    at: Mapped[datetime]
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    purpose: Mapped[str] = mapped_column(String(80))
    categories: Mapped[list[str]]
    reference: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(120))
