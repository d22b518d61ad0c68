"""The record of promise checks: each finished run keeps its results (check ids, counts and
example ids — never personal data), so the console and /metrics show the last run whichever
process made it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class PromiseRun(Base):
    __tablename__ = "promise_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))  # worker | cli | console
    violated: Mapped[int]  # how many checks found a violation
    results: Mapped[list[dict[str, Any]]]
