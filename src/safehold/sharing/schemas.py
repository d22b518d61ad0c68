"""HTTP shapes for recipients, disclosures and notices. Inputs are strict: unknown fields are
refused and sizes capped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safehold.sharing.rules import MAX_PEOPLE, MAX_REFERENCE
from safehold.subjects.schemas import PaymentMethodOut, WithheldOut


class RecipientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    description: str
    purposes: list[str]
    categories: list[str]
    country: str
    third_country: bool = Field(description="Outside the European Economic Area")
    agreement: str | None
    transfer_safeguard: str | None
    legal_reference_required: bool
    notify_on_erasure: bool = Field(description="Told of erasure, restriction and corrections")
    delivery: Literal["webhook", "manual"] = Field(
        description="How notices reach it: a signed webhook, or staff"
    )


class DisclosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(min_length=1, max_length=80, description="A recipient id of the policy")
    purpose: str = Field(min_length=1, max_length=80)
    subjects: list[uuid.UUID] = Field(min_length=1, max_length=MAX_PEOPLE)
    categories: list[str] = Field(min_length=1, max_length=20)
    reference: str | None = Field(
        default=None,
        max_length=MAX_REFERENCE,
        description="The legal basis or case number (required for authorities), or a "
        "contract reference",
    )


class PersonPackageOut(BaseModel):
    subject_id: uuid.UUID
    outcome: Literal["disclosed", "refused", "not_found"]
    rule: str | None = Field(description="Why nothing of this person was disclosed")
    message: str | None
    data: dict[str, dict[str, str]] = Field(description="category -> field -> value")
    payment_methods: list[PaymentMethodOut] | None
    withheld: list[WithheldOut]
    nothing_held: list[str] = Field(description="Allowed categories with no data held")


class DisclosureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    recipient_id: str
    recipient_role: str
    purpose: str
    categories: list[str]
    reference: str | None
    actor: str
    request_id: str | None
    policy_hash: str
    people_disclosed: int
    people_refused: int


class DisclosurePackageOut(BaseModel):
    disclosure: DisclosureOut
    people: list[PersonPackageOut]


class DisclosurePersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: uuid.UUID
    outcome: str
    categories: list[str]
    rule: str | None


class DisclosureDetailOut(BaseModel):
    disclosure: DisclosureOut
    people: list[DisclosurePersonOut]


class PersonDisclosureOut(BaseModel):
    """One line of "who received my data and why"."""

    model_config = ConfigDict(from_attributes=True)

    disclosure_id: uuid.UUID
    at: datetime
    recipient_id: str
    recipient_name: str
    recipient_role: str
    country: str | None
    purpose: str
    purpose_label: str
    categories: list[str]
    reference: str | None
    outcome: str
    rule: str | None


class PropagationOut(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    recipient_id: str
    event: str
    categories: list[str]
    status: Literal["pending", "acknowledged"]
    state: Literal["queued", "failed", "acknowledged"]
    delivery: Literal["webhook", "manual"]
    created_at: datetime
    due_at: datetime
    overdue: bool
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
