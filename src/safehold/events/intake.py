"""A batch's events, each checked on its own before anything is read or written: its shape,
its name against the policy, its person, its time (clock skew corrected), its properties,
its device and its address. No database here: what comes out is an outcome for every
refused event and a :class:`Pending` for each one that may go on.

This runs for every event received, so whatever depends only on the event's name, on the
time of receipt or on a repeated User-Agent or address is worked out once per batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from safehold.events import devices, rules, storage
from safehold.events.devices import NO_HINTS, Device, Hints, detect
from safehold.events.rules import Reason, Refusal, SplitProperties, TimeWindow, refuse
from safehold.events.schemas import BatchIn, ContextIn, EventIn
from safehold.policy import Policy
from safehold.policy.document import EventKind

PERSONAL_FIELD = "properties"  # the field personal properties are encrypted as
_EVENTS = TypeAdapter(list[EventIn])
_NO_CONTEXT = ContextIn()
_NIL = uuid.UUID(int=0)  # an event's id until it is given its own (see check)
_OUT_OF_RANGE = {"location": "timestamp", "problem": "outside the range of UTC times",
                 "type": "datetime_range"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event of the batch."""

    index: int
    event_id: uuid.UUID | None
    status: str  # accepted | duplicate | rejected
    refusal: Refusal | None = None
    details: dict[str, Any] | None = None


@dataclass(slots=True)
class Pending:
    """A valid event on its way to the store."""

    index: int
    event: EventIn
    event_id: uuid.UUID
    category: str
    signs_in: bool  # a login or logout: kept in the login history, not the month tables
    personal_class: str | None  # the retention class its personal properties are kept in
    occurred_at: datetime  # skew-corrected, inside its filing month
    filing: rules.Filing | None  # where it is stored (None: a sign-in, kept in the logins)
    properties: SplitProperties
    device: Device | None
    ip: str | None
    subject_id: uuid.UUID | None = None
    anonymous_index: str | None = None
    dropped: list[str] = field(default_factory=list)
    ip_class: str | None = None  # the key class its address is sealed under (events.sealing)


@dataclass(frozen=True, slots=True)
class _Name:
    """What the policy says about one event name, at this batch's time of receipt."""

    category: str
    kind: EventKind | None
    window: TimeWindow
    signs_in: bool
    personal_class: str


class _Batch:
    """One batch's memo: names, devices and addresses each looked up once."""

    def __init__(self, policy: Policy, batch: BatchIn, received_at: datetime) -> None:
        self.policy, self.batch, self.received_at = policy, batch, received_at
        self.names: dict[str, _Name | None] = {}
        self.devices: dict[tuple[str | None, tuple[tuple[str, str], ...] | None], Device] = {}
        self.addresses: dict[str, str | ValueError | None] = {}
        # What the maintenance round would clear: never written for a backdated event.
        self.ip_expiry = rules.IpExpiry.of(policy, received_at)

    def name(self, name: str) -> _Name | None:
        """The event name's rules, or None when the policy does not allow it."""
        if name not in self.names:
            events = self.policy.events
            category = events.category_of(name)
            if category is None or category not in self.policy.category_ids:
                self.names[name] = None
            else:
                period = self.policy.retention_rule_for(category).period
                self.names[name] = _Name(
                    category,
                    events.kind(name),
                    TimeWindow.at(self.received_at, period),
                    name in (events.login_event, events.logout_event),
                    self.policy.retention_class(category, PERSONAL_FIELD),
                )
        return self.names[name]

    def device(self, context: ContextIn) -> Device:
        hints = context.client_hints
        key = (context.user_agent, tuple(hints.items()) if hints else None)
        found = self.devices.get(key)
        if found is None:
            found = detect(context.user_agent, Hints(**hints) if hints else NO_HINTS)
            self.devices[key] = found
        return found

    def prefetch(self, contexts: list[ContextIn]) -> None:
        """The full answers the persistent parse cache holds for the batch's devices not
        seen by this process yet, asked in one query (``devices.prefetch``)."""
        pairs = {
            (c.user_agent, tuple(c.client_hints.items()) if c.client_hints else None)
            for c in contexts
            if c.user_agent
        }
        devices.prefetch((ua, Hints(**dict(h)) if h else NO_HINTS) for ua, h in pairs)

    def address(self, address: str | None) -> str | None:
        """The minimised address; ``ValueError`` for text that is no address."""
        if address is None:
            return None
        if address not in self.addresses:
            try:
                self.addresses[address] = rules.minimise_ip(address, self.policy.events.ip)
            except ValueError as exc:
                self.addresses[address] = exc
        found = self.addresses[address]
        if isinstance(found, ValueError):
            raise found
        return found


def check(
    policy: Policy, batch: BatchIn, received_at: datetime, outcomes: dict[int, Outcome]
) -> list[Pending]:
    """The events that may go on, in order; an outcome in ``outcomes`` for each refused one
    (and for a repeat of an event id earlier in the same batch: a duplicate)."""
    memo, seen = _Batch(policy, batch, received_at), set()
    pending, parsed = [], _parse(batch, outcomes)
    if policy.events.user_agent == "coarse":
        memo.prefetch([event.context or batch.context or _NO_CONTEXT for _, event in parsed])
    for index, event in parsed:
        event_id = event.event_id or storage.new_event_id()
        checked = _check(memo, event, event_id)
        if isinstance(checked, Refusal):
            outcomes[index] = Outcome(index, event_id, "rejected", checked)
        elif event_id in seen:
            outcomes[index] = Outcome(index, event_id, "duplicate")
        else:
            seen.add(event_id)
            checked.index, checked.event_id = index, event_id
            pending.append(checked)
    return pending


def _parse(batch: BatchIn, outcomes: dict[int, Outcome]) -> list[tuple[int, EventIn]]:
    """Each event validated; events the route already validated pass straight through."""
    try:
        return list(enumerate(_EVENTS.validate_python(batch.events)))
    except ValidationError:
        pass  # at least one is invalid: validate them one by one to say which
    parsed = []
    for index, raw in enumerate(batch.events):
        try:
            parsed.append((index, EventIn.model_validate(raw)))
        except ValidationError as exc:
            fields = [
                {
                    "location": ".".join(str(p) for p in err.get("loc", ())),
                    "problem": err.get("msg", "invalid"),
                    "type": err.get("type", "value_error"),
                }
                for err in exc.errors(include_input=False, include_url=False)
            ]
            refusal = refuse(Reason.INVALID_EVENT, fields=fields[:10])
            outcomes[index] = Outcome(index, _raw_id(raw), "rejected", refusal)
    return parsed


def _raw_id(raw: object) -> uuid.UUID | None:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check(memo: _Batch, event: EventIn, event_id: uuid.UUID) -> Pending | Refusal:
    found = memo.name(event.name)
    if found is None:
        return refuse(Reason.EVENT_NAME_NOT_ALLOWED)
    if event.subject_id is None and (event.anonymous_id is None or found.signs_in):
        return refuse(Reason.SUBJECT_REQUIRED)
    if event.timestamp is not None and not rules.in_utc_range(event.timestamp):
        return refuse(Reason.INVALID_EVENT, fields=[_OUT_OF_RANGE])  # kept as client_time
    occurred_at = rules.event_time(memo.received_at, event.timestamp, memo.batch.sent_at)
    filing = None
    if not found.signs_in:  # sign-ins go to the login history, not to a month
        filing = rules.file_event(event.timestamp, event_id, memo.received_at, occurred_at)
        if filing is None:
            return found.window.check(occurred_at) or refuse(Reason.CLOCK_SKEW)
        occurred_at = filing.occurred_at
    refusal = found.window.check(occurred_at)
    if refusal is not None:
        return refusal
    split = rules.split_properties(event.properties, found.kind)
    if isinstance(split, Refusal):
        return split
    context = event.context or memo.batch.context or _NO_CONTEXT
    device = None
    if memo.policy.events.user_agent == "coarse" and (context.user_agent or context.client_hints):
        device = memo.device(context)
    try:
        ip = memo.address(context.ip)
    except ValueError:
        where = "context.ip" if event.context else "batch context.ip"
        problem = {"location": where, "problem": "not an IP address", "type": "ip_address"}
        return refuse(Reason.INVALID_EVENT, fields=[problem])
    ip = memo.ip_expiry.keep(ip, occurred_at)
    personal_class = found.personal_class if split.personal else None
    return Pending(-1, event, _NIL, found.category, found.signs_in, personal_class,
                   occurred_at, filing, split, device, ip)  # fmt: skip
