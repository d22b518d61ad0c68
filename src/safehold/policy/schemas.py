"""HTTP shapes for the policy endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class ActivePolicy(BaseModel):
    content_hash: str = Field(description="SHA-256 of the canonical JSON of the rules")
    policy: dict[str, Any]


class SubjectStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_status: Literal["active", "closed", "restricted", "erased"] = "active"
    opted_out: list[str] = Field(default_factory=list, max_length=64)
    objected: list[str] = Field(default_factory=list, max_length=64)
    consented: list[str] = Field(default_factory=list, max_length=64)
    pending_acceptance: list[str] = Field(default_factory=list, max_length=64)


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=100)
    categories: list[str] | None = Field(default=None, max_length=100)
    state: SubjectStateIn = Field(default_factory=SubjectStateIn)
    aggregate: StrictBool = False  # true or false, never 0 or "yes" (F21)


class WithheldOut(BaseModel):
    category: str
    rule: str
    message: str


class DecisionOut(BaseModel):
    purpose: str
    refused: bool
    allowed: list[str]
    withheld: list[WithheldOut]
    refused_rule: str | None
    refused_message: str | None
