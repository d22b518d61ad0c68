from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class MarketingChoice(Base):
    """One marketing choice a person made: a history of records, not a flag.

    The latest record (by ``at``, then ``id``) is in force; the earlier ones prove what the
    person chose when, through which channel, under which policy version."""

    __tablename__ = "marketing_choices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    choice: Mapped[str] = mapped_column(String(16))  # "opted_in" | "opted_out"
    at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(32))  # "sign_up", "api", "privacy_center", …
    actor: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str | None] = mapped_column(String(64))
