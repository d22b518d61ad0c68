"""Legal holds: data of one person kept beyond deletion, always with a reason, a legal basis
and an end."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class LegalHold(Base):
    __tablename__ = "legal_holds"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        Index("ix_legal_holds_id", "id"),  # lifted by its id alone (the console, the API)
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    categories: Mapped[list[str]]
    reason: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    until: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(120))


class RetentionRun(Base):
    """A finished retention run and its report: counts per category, months dropped, holds
    that kept data back (their ids and counts). No person and no free text, so the console
    can show the last run's report after the process that ran it is gone."""

    __tablename__ = "retention_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    dry_run: Mapped[bool]
    report: Mapped[dict[str, Any]]
