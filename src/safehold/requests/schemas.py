from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from safehold.requests.rules import CHANNELS, STEPS, Kind, is_overdue

if TYPE_CHECKING:
    from safehold.requests.models import DataRequest

Channel = Literal["api", "email", "phone", "post", "privacy_center"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]
KindName = Literal["erasure", "access", "rectification", "objection", "restriction"]
assert set(KindName.__args__) == set(Kind)  # type: ignore[attr-defined]


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID
    kind: KindName
    channel: Channel = "api"
    purpose: str | None = Field(
        default=None, max_length=64, description="objection only: the purpose objected to"
    )


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=32, description="complexity | number_of_requests")
    extension: str = Field(max_length=16, description="ISO 8601 duration, e.g. P1M")


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=32, description="a code from the closed list (docs/requests.md)")


class RectificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, str] = Field(
        description="corrected values by field: name, email, phone, or the whole address "
        "(street, postal_code, city, country)",
        max_length=8,
    )


class AccessOut(BaseModel):
    url: str = Field(description="the download link (JSON; add ?format=html for the summary)")
    expires_at: datetime


class RequestOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    kind: str
    purpose: str | None
    channel: str
    made_by: str
    status: str
    received_at: datetime
    deadline_at: datetime
    overdue: bool
    extended_at: datetime | None
    extension_reason: str | None
    verified_at: datetime | None
    started_at: datetime | None
    responded_at: datetime | None
    rejection_reason: str | None
    code_expires_at: datetime | None
    code_attempts: int
    progress: list[str]
    assignee_id: uuid.UUID | None = None  # the staff member answering it (decision 0040)
    assigned_at: datetime | None = None


def request_view(request: DataRequest, now: datetime) -> RequestOut:
    """A request as the API and `safehold requests list --format json` show it."""
    return RequestOut(
        id=request.id, subject_id=request.subject_id, kind=request.kind, purpose=request.purpose,
        channel=request.channel, made_by=request.made_by, status=request.status,
        received_at=request.received_at, deadline_at=request.deadline_at,
        overdue=is_overdue(request.status, request.deadline_at, now),
        extended_at=request.extended_at, extension_reason=request.extension_reason,
        verified_at=request.verified_at, started_at=request.started_at,
        responded_at=request.responded_at, rejection_reason=request.rejection_reason,
        code_expires_at=request.code_expires_at, code_attempts=request.code_attempts,
        progress=[step for step in STEPS if step in request.progress],
        assignee_id=request.assignee_id, assigned_at=request.assigned_at,
    )  # fmt: skip


class CertificateOut(BaseModel):
    certificate: dict[str, Any]


class RestrictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=32, description="a code from the closed list (docs/requests.md)")


class RestrictionOut(BaseModel):
    request_id: uuid.UUID
    subject_id: uuid.UUID
    reason: str
    applied_at: datetime
    lift_reason: str | None
    lift_notice_at: datetime | None
    lifted_at: datetime | None


class AssigneeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: uuid.UUID | None = Field(
        description="an active staff member whose role may act on requests; null: nobody"
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, description="seen by staff only")


class NoteOut(BaseModel):
    id: uuid.UUID
    author: str
    author_name: str | None
    created_at: datetime
    text: str | None = Field(description="null once the person's data was erased")
