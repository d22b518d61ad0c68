from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChangeOut(BaseModel):
    kind: str
    subject: str
    description: str
    change_class: str


class VersionOut(BaseModel):
    version: int
    label: str
    content_hash: str
    change_class: str
    effective_at: datetime
    published_at: datetime
    in_force: bool
    changes: list[ChangeOut]
    needs_acceptance: list[str] = Field(description="Purposes people must accept explicitly")
    withdrawn_at: datetime | None = Field(
        default=None, description="Set when the version was withdrawn before taking effect"
    )


class VersionDetail(VersionOut):
    rules: dict[str, Any]
    text_markdown: str


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=500_000, description="The policy file (YAML)")
    effective_at: datetime | None = Field(
        default=None, description="Default: the earliest the change class allows"
    )
    change_class: Literal["minor", "material"] | None = Field(
        default=None, description="Raise to material; it can never be lowered"
    )


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    change_class: str
    changes: list[ChangeOut]
    text_diff: str = Field(description="Unified diff of the rendered policy text")


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Default: the one in force"
    )
    channel: Literal["api", "privacy_center"] = "api"


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["api", "login", "privacy_center"] = "api"


class AcceptanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int = Field(validation_alias="version_seq")
    method: str
    channel: str
    at: datetime
    evidence: str | None


class StandingOut(BaseModel):
    subject_id: uuid.UUID
    status: str
    accepted_version: int
    how: str | None
    at: datetime | None


class SubjectPolicyOut(BaseModel):
    in_force: int | None
    accepted_version: int
    pending_purposes: list[str]
    pending_versions: list[int] = Field(
        default_factory=list, description="Material versions in force not yet accepted"
    )
    handled_under: int | None = Field(
        default=None,
        description="The version the person is still handled under until they accept "
        "(null: the version in force applies fully)",
    )
    records: list[AcceptanceOut]


class WithdrawalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int = Field(validation_alias="version_seq")
    withdrawn_at: datetime
    notices_stopped: int = Field(description="Change-notice e-mails not sent: stopped")
    people_told: int = Field(description="People already e-mailed: sent one withdrawal note")
