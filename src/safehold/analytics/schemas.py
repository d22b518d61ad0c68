"""The HTTP shapes of the analytics feature."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class RowOut(BaseModel):
    values: dict[str, str]
    status: str = Field(description="released, suppressed (fewer than k people) or pending")
    people: int | None
    events: int | None = None
    errors: int | None = None
    error_rate: float | None = None


class ReportOut(BaseModel):
    report: str
    k: int = Field(description="no released row holds fewer than k distinct people")
    first: date
    last: date
    fields: list[str]
    measures: list[str]
    rows: list[RowOut]
    withheld: bool = Field(description="some people were in groups too small to show at all")
    folded: int = Field(description="small groups folded into '(other)' rows")


class ObjectionIn(BaseModel):
    purpose: str = Field(max_length=80, description="an objectable purpose")


class ObjectionOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    purpose: str
    objected_at: datetime
    withdrawn_at: datetime | None = Field(
        default=None, description="when the objection was withdrawn (null: still in force)"
    )
