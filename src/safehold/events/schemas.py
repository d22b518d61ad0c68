"""Pydantic shapes of the events API.

A batch is parsed in two steps: the envelope (``BatchIn``) must be right or the whole batch
is refused with nothing written; each event (``EventIn``) is then validated on its own, so
one bad event is refused with its reason while the others go on. :func:`read_batch` does
both in one pass over the raw body when every event is valid (nearly always), and falls back
to the two steps only to say which events are not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from safehold.events.devices import Hints
from safehold.policy.document import ID_PATTERN

HINT_HEADERS = {
    "sec-ch-ua": "ua",
    "sec-ch-ua-mobile": "mobile",
    "sec-ch-ua-platform": "platform",
    "sec-ch-ua-platform-version": "platform_version",
    "sec-ch-ua-model": "model",
}
EventName = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=64)]
HintValue = Annotated[str, StringConstraints(max_length=512)]


class ContextIn(BaseModel):
    """Where the event came from. Only coarse device fields and the minimised address are
    kept; the User-Agent and the hints are read and forgotten. Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    user_agent: Annotated[str, StringConstraints(max_length=1024)] | None = None
    ip: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The device's IP address; kept only as the policy says"
    )
    client_hints: dict[str, HintValue] | None = Field(
        default=None,
        max_length=16,
        description="Headers as received: Sec-CH-UA, -Mobile, -Platform, -Platform-Version, "
        "-Model (any case)",
    )

    @field_validator("client_hints")
    @classmethod
    def _known_hints(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        return {HINT_HEADERS[k.lower()]: v for k, v in value.items() if k.lower() in HINT_HEADERS}

    def hints(self) -> Hints:
        return Hints(**self.client_hints) if self.client_hints else Hints()


def _not_a_number(value: object) -> object:
    """A device time is an ISO 8601 string: a bare number (pydantic would read it as Unix
    time) is refused, so ``0`` or ``1e9`` is never taken for 1970 (F21)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a time is an ISO 8601 string with its offset, not a number")
    return value


DeviceTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID | None = Field(
        default=None, description="Your id for this event (a UUID); resending it is harmless"
    )
    subject_id: uuid.UUID | None = None
    anonymous_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="A device's id before sign-in; linked at the next login"
    )
    name: EventName
    timestamp: DeviceTime | None = Field(default=None, description="The device's clock")
    properties: dict[str, Any] = Field(default_factory=dict)
    context: ContextIn | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sent_at: DeviceTime | None = Field(
        default=None,
        description="The device's clock when it sent the batch: corrects its clock skew",
    )
    context: ContextIn | None = Field(
        default=None, description="Context for every event that has none of its own"
    )
    events: list[Any] = Field(
        min_length=1, description="Event objects (see EventIn), each validated on its own"
    )


class _TypedBatchIn(BaseModel):
    """``BatchIn`` with every event valid: the one-pass reading of a batch, and the shape the
    OpenAPI document gives as ``BatchIn`` (its events typed as ``EventIn``)."""

    model_config = ConfigDict(extra="forbid", title="BatchIn")

    sent_at: DeviceTime | None = Field(
        default=None,
        description="The device's clock when it sent the batch: corrects its clock skew",
    )
    context: ContextIn | None = Field(
        default=None, description="Context for every event that has none of its own"
    )
    events: list[EventIn] = Field(
        min_length=1,
        description="The events, each validated on its own: a refused one gets its reason in "
        "the answer while the others go on",
    )


def read_batch(raw: bytes) -> BatchIn:
    """The batch in a raw JSON body, its events already validated when all of them are
    (parsed straight from the bytes by pydantic-core, no ``json.loads`` first). Otherwise
    the envelope alone, its events left as sent for the service to judge one by one.
    ``ValidationError`` when the envelope is wrong: the whole batch is refused."""
    try:
        typed = _TypedBatchIn.model_validate_json(raw)
    except ValidationError:
        return BatchIn.model_validate_json(raw)
    return BatchIn.model_construct(
        sent_at=typed.sent_at, context=typed.context, events=list(typed.events)
    )


BATCH_REF = "#/components/schemas/BatchIn"


def batch_components() -> dict[str, Any]:
    """The OpenAPI components of an event batch: ``BatchIn``, ``EventIn`` and ``ContextIn``,
    for the request body the route reads itself (so that a generated client has typed
    events)."""
    schema = _TypedBatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["BatchIn"] = schema
    return components


class EventResultOut(BaseModel):
    index: int
    event_id: uuid.UUID | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    message: str | None = None
    details: dict[str, Any] | None = None


class BatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResultOut]


class DeviceOut(BaseModel):
    device_type: str
    os_family: str | None
    os_major: str | None
    browser_family: str | None
    browser_major: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class LoginOut(BaseModel):
    logged_in_at: datetime
    logged_out_at: datetime | None
    properties: dict[str, Any] | None
    device: DeviceOut | None = None
    ip: str | None = None


class WithheldOut(BaseModel):
    category: str
    rule: str
    message: str


class LoginHistoryOut(BaseModel):
    subject_id: uuid.UUID
    purpose: str
    last_login_at: datetime | None
    logins: list[LoginOut]
    withheld: list[WithheldOut]


class DevicesOut(BaseModel):
    subject_id: uuid.UUID
    purpose: str
    devices: list[DeviceOut]


class StoredEventOut(BaseModel):
    event_id: uuid.UUID
    name: str
    occurred_at: datetime
    client_time: datetime | None
    properties: dict[str, Any]
    device: dict[str, Any] | None
    ip: str | None
    is_bot: bool


class EventsOut(BaseModel):
    subject_id: uuid.UUID
    purpose: str
    events: list[StoredEventOut]
    withheld: list[WithheldOut]
