"""HTTP shapes for people. Inputs are strict: unknown fields are refused (so a misspelt field
never silently drops a correction), and sizes are capped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

if TYPE_CHECKING:
    from safehold.subjects.payments import PaymentView

Name = Field(min_length=1, max_length=200)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str = Field(min_length=1, max_length=200)
    postal_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    email: str = Field(min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    address: Address | None = None
    marketing_opt_in: StrictBool = Field(  # a consent is true or false, never 1 or "yes"
        description="The marketing choice made at sign-up"
    )
    policy_version: str | None = Field(
        default=None,
        max_length=64,
        description="The policy version the person was shown (default: the one in force)",
    )


class SubjectOut(BaseModel):
    id: uuid.UUID
    status: str
    created_at: datetime
    closed_at: datetime | None
    policy_version_shown: str


class RectifyIn(BaseModel):
    """Only the fields present are changed; ``null`` removes an optional one."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    address: Address | None = None
    source: Literal["person", "operator"] = Field(
        description="Who asked for the correction: the person, or an operator on their behalf"
    )


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    purpose: str = Field(default="service_provision", max_length=80)


class PaymentMethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    processor: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_ .-]+$")
    processor_token: str = Field(
        min_length=1, max_length=255, description="The processor's token or payment-method id"
    )
    brand: Literal["visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "maestro"]
    last4: str = Field(pattern=r"^[0-9]{4}$")  # ASCII digits: \d is any script's
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)


class PaymentMethodOut(BaseModel):
    id: uuid.UUID
    processor: str
    processor_token: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    display: str = Field(description='e.g. "Visa •••• 4242"')

    @classmethod
    def of(cls, view: PaymentView) -> PaymentMethodOut:
        card = view.card
        return cls(
            id=view.id,
            processor=view.processor,
            processor_token=view.processor_token,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            display=str(card),
        )


class WithheldOut(BaseModel):
    category: str
    rule: str
    message: str


class PaymentMethodsOut(BaseModel):
    payment_methods: list[PaymentMethodOut] = Field(description="The active cards")
    withheld: list[WithheldOut] = Field(description="What the policy withheld, and the rule")


class SubjectDataOut(BaseModel):
    id: uuid.UUID
    status: str
    purpose: str
    data: dict[str, dict[str, str]] = Field(description="category -> field -> value")
    payment_methods: list[PaymentMethodOut] | None = Field(
        description="Present when the purpose may see account.payment"
    )
    withheld: list[WithheldOut] = Field(description="What the policy withheld, and the rule")
