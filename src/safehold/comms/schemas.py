"""HTTP shapes for messages, marketing preferences and bounce reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

MAX_RECIPIENTS = 10_000  # per request; larger campaigns use audience "all" or several requests


class AudienceIn(BaseModel):
    """Exactly one of: named people, or everyone with an active account."""

    model_config = ConfigDict(extra="forbid")

    subject_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_RECIPIENTS
    )
    all: StrictBool = Field(
        default=False, description="Every active account the purpose may reach"
    )  # true or false only: "yes" or 1 must not send to everyone

    @model_validator(mode="after")
    def _exactly_one(self) -> AudienceIn:
        if (self.subject_ids is None) == (not self.all):
            raise ValueError("give either subject_ids or all: true, not both")
        return self


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        max_length=32, description="service_update, announcement, account_notice or marketing"
    )
    audience: AudienceIn
    subject: str = Field(min_length=1, max_length=300, description="Jinja2 template, one line")
    text: str = Field(min_length=1, max_length=100_000, description="Jinja2 template: text part")
    html: str | None = Field(
        default=None,
        max_length=200_000,
        description="Jinja2 template: HTML part (default: the text part, escaped)",
    )


class MessageOut(BaseModel):
    id: uuid.UUID
    kind: str
    purpose: str
    audience: str
    created_at: datetime
    policy_version: str
    total: int
    counts: dict[str, int] = Field(
        description="Recipients per status: queued, sending, sent, failed, suppressed, skipped"
    )
    reasons: dict[str, int] = Field(description="Recipients per reason (skipped, failed, …)")


class RecipientOut(BaseModel):
    subject_id: uuid.UUID
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    message_id: str = Field(description="The e-mail's Message-ID header, the same on every try")


class RecipientsOut(BaseModel):
    items: list[RecipientOut]
    next_after: uuid.UUID | None = Field(description="Pass as ?after= for the next page")


class RequeueOut(BaseModel):
    requeued: int


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: Literal["opted_in", "opted_out"]
    channel: Literal["api", "privacy_center", "reply"] = Field(
        default="api", description="Where the person made the choice"
    )


class ChoiceOut(BaseModel):
    choice: str
    at: datetime
    channel: str
    actor: str
    policy_version: str | None
    reference: str | None


class PreferenceOut(BaseModel):
    subject_id: uuid.UUID
    choice: str | None = Field(description="The choice in force")
    receives_marketing: bool = Field(description="Whether the policy lets marketing reach them")
    rule: str | None = Field(description="The rule that stops marketing, if one does")
    history: list[ChoiceOut] = Field(description="Every choice, oldest first")


class BounceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    kind: Literal["hard_bounce", "complaint"]


class BounceOut(BaseModel):
    recorded: bool = Field(description="False when the address was already on the list")
