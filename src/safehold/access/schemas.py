from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scopes: list[str]
    purposes: list[str]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .:@/-]+$")
    scopes: list[str] = Field(min_length=1, max_length=32)
    purposes: list[str] = Field(default_factory=list, max_length=32)


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor: str
    action: str
    subject_id: uuid.UUID | None
    categories: list[str]
    purpose: str | None
    outcome: str
    request_id: str | None
    hash: str


class CheckpointOut(BaseModel):
    """A checkpoint exactly as it is MAC'd: keep it as served (``at`` is text on purpose)."""

    format: str
    number: int
    at: str
    heads: list[tuple[int, int, str]] = Field(description="[chain, position, link] per chain")
    prev_mac: str
    mac: str


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_after: int | None = Field(description="Pass as `after` for the next page")


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="The secret key. Shown once; only a hash is stored.")
