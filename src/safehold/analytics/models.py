"""The analytics feature's tables. None of them holds a person's id except ``objections``
(who objected to what, from when until when): roll-ups are keyed by day, grain and cell only."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class Objection(Base):
    """A person's objection to a purpose (GDPR Art. 21), in force from ``objected_at`` until
    ``withdrawn_at`` (NULL: still in force).

    A history, not a flag (decision 0024): withdrawing closes the open row, objecting again
    after that opens a new one, and at most one row per person and purpose is open (the
    partial unique index). ``state_of`` reads the open rows (so ``decide`` refuses the
    purpose), and the roll-ups leave out the person's events from each ``objected_at`` up to
    its ``withdrawn_at``."""

    __tablename__ = "objections"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_objections_subject_id_purpose", "subject_id", "purpose"),
        Index(
            "ux_objections_open", "subject_id", "purpose", unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    objected_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_by: Mapped[str | None] = mapped_column(String(120), default=None)


class Rollup(Base):
    """One cell of a day's or a month's roll-up: its event counts and a HyperLogLog sketch of
    its distinct people (keyed hashes, never ids). Kept when raw events expire or a person
    is erased; a day is rebuilt whole (its rows replaced) until it is final."""

    __tablename__ = "analytics_rollups"
    __table_args__ = (
        UniqueConstraint("period", "start", "grain", "cell"),
        Index("ix_analytics_rollups_grain_period_start", "grain", "period", "start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(8))  # "day" | "month"
    start: Mapped[date]
    grain: Mapped[str] = mapped_column(String(16))  # rules.FIELDS
    cell: Mapped[str] = mapped_column(String(400))  # compact JSON of the grain's field values
    events: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    people: Mapped[bytes] = mapped_column(LargeBinary)  # datasketches HLL, compact form


class RollupDay(Base):
    """A day that has been rolled up, when, and whether that build is final."""

    __tablename__ = "analytics_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    built_at: Mapped[datetime]
    final: Mapped[bool]
    events: Mapped[int] = mapped_column(Integer)


class LateEvent(Base):
    """An event or sign-in stored after its day had ended (an offline set-top box, a
    backfill), written by ingestion in the batch's transaction, until the roll-ups have
    counted it. Its day is not final while it is here (``late.open_days``); the next
    roll-up takes it in (``late.claim``) and deletes it. Holds no person id."""

    __tablename__ = "analytics_late_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # or the login's id
    day: Mapped[date] = mapped_column(index=True)  # the UTC day it happened on
    claimed: Mapped[bool]  # taken by the roll-up now running (rolled back with it)
