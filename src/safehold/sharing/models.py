"""The record of what went to whom, and the notices owed to those recipients.

No table here holds a personal value: people appear by their opaque id, data by category.
The rows outlive the person's erasure on purpose — they are the controller's proof of what
was disclosed (Art. 5(2)) and the list of recipients an erasure must reach (Art. 19) — so
``subject_id`` has no foreign key to ``subjects`` (whose rows are deleted after erasure).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class Disclosure(Base):
    """One disclosure request: who asked, to which recipient, for what purpose and under
    what reference, which categories, when, under which policy. A request the policy refused
    as a whole is recorded too, with nobody disclosed (``people_disclosed == 0``)."""

    __tablename__ = "disclosures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    recipient_id: Mapped[str] = mapped_column(String(80), index=True)
    recipient_role: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(80))
    categories: Mapped[list[str]]
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(120))
    request_id: Mapped[str | None] = mapped_column(String(64))
    policy_hash: Mapped[str] = mapped_column(String(64))
    people_disclosed: Mapped[int] = mapped_column(Integer)
    people_refused: Mapped[int] = mapped_column(Integer)


class DisclosureSubject(Base):
    """One person in a disclosure: what of theirs went out, or the rule that kept it back."""

    __tablename__ = "disclosure_subjects"

    disclosure_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("disclosures.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # disclosed | refused
    categories: Mapped[list[str]]  # disclosed categories (empty when refused)
    rule: Mapped[str | None] = mapped_column(String(120))


class Propagation(Base):
    """A notice owed to one recipient about one person's erasure, restriction or correction.

    ``state`` moves as :data:`safehold.sharing.rules.TRANSITIONS` allows. Webhook delivery
    claims a row by pushing ``next_attempt_at`` forward (a lease), so several workers never
    send the same attempt twice and a crashed worker's claim expires on its own."""

    __tablename__ = "propagations"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_propagations_id", "id"),  # acknowledged by its id alone (the API)
        Index("ix_propagations_due", "state", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    recipient_id: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(String(16))  # sharing.rules.Event
    categories: Mapped[list[str]]
    state: Mapped[str] = mapped_column(String(16))  # queued | failed | acknowledged
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))


class ServiceDelivery(Base):
    """What a processor received of one person in the course of the service, aggregated: one
    row per (person, recipient, purpose, set of categories) with the first and last time and
    how many times (the e-mail provider: once per message handed to it). A row per message
    would grow with every campaign; this stays one or two rows per person, updated in the
    send transaction (docs/decisions/0025-held-recipients-kept.md). No personal value; no
    foreign key, like :class:`Disclosure` (it outlives the person's erasure as proof)."""

    __tablename__ = "service_deliveries"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(80), primary_key=True)
    categories: Mapped[str] = mapped_column(String(400), primary_key=True)  # sorted, ","
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
