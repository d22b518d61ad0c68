from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from safehold.retention.rules import MAX_TEXT


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID
    categories: list[str] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=MAX_TEXT)
    legal_basis: str = Field(min_length=1, max_length=MAX_TEXT)
    until: AwareDatetime


class HoldOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    categories: list[str]
    reason: str
    legal_basis: str
    until: datetime
    active: bool
    created_at: datetime
    lifted_at: datetime | None
