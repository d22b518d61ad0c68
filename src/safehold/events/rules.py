"""Pure rules for usage events: the event time, what is too old or too new, which properties
the policy allows and which are personal, IP minimisation, and month partitions.

No FastAPI, no SQLAlchemy: everything here is a function of its arguments, so the edges that
cost data (a month boundary, a clock skew, an IPv6 prefix) are tested with Hypothesis.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from safehold.policy.document import EventKind, IpMode, IpRules, Policy
from safehold.policy.durations import add_duration

MAX_PROPERTIES_BYTES = 4_096  # compact JSON of one event's properties
FUTURE_TOLERANCE = timedelta(minutes=5)  # an event "from the future" after skew correction
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)  # older clocks are broken, not history
EARLIEST_TIME = datetime.min.replace(tzinfo=UTC)  # the ends of what a datetime can hold
LATEST_TIME = datetime.max.replace(tzinfo=UTC)
MAX_MONTH_SHIFT = timedelta(days=1)  # how far an event's time may move into its filing month
ANONYMOUS_LINK_WINDOW = timedelta(hours=24)  # events before a sign-in that it claims
PARTITION_PREFIX = "events_"
IP_CACHE_SIZE = 65_536  # addresses remembered minimised (ipaddress parsing is slow)
# How far ahead of "now" addresses are treated as expired: the events maintenance round runs
# hourly (``jobs.MAINTENANCE_SECONDS``), so it clears what would pass its period before the
# next round, with a margin for the round itself. Ingestion applies the same look-ahead.
IP_EXPIRY_AHEAD = timedelta(hours=1, minutes=5)
NETWORK_CATEGORY = "network.ip"  # the category whose period shortened addresses are kept for


class Reason(StrEnum):
    """Why one event of a batch was refused; the batch goes on without it."""

    INVALID_EVENT = "invalid_event"
    SUBJECT_REQUIRED = "subject_required"
    UNKNOWN_SUBJECT = "unknown_subject"
    SUBJECT_ERASED = "subject_erased"
    PURPOSE_REFUSED = "purpose_refused"
    EVENT_NAME_NOT_ALLOWED = "event_name_not_allowed"
    PROPERTY_NOT_ALLOWED = "property_not_allowed"
    PROPERTIES_TOO_LARGE = "properties_too_large"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    OUTSIDE_RETENTION = "outside_retention"
    CLOCK_SKEW = "clock_skew"


MESSAGES: dict[Reason, str] = {
    Reason.INVALID_EVENT: "the event is not valid",
    Reason.SUBJECT_REQUIRED: "the event needs a subject_id or an anonymous_id",
    Reason.UNKNOWN_SUBJECT: "no person with that id",
    Reason.SUBJECT_ERASED: "this person's data has been erased; nothing more is recorded",
    Reason.PURPOSE_REFUSED: "the policy does not allow recording usage for this person",
    Reason.EVENT_NAME_NOT_ALLOWED: "the policy does not allow this event name",
    Reason.PROPERTY_NOT_ALLOWED: "the policy does not allow some properties of this event",
    Reason.PROPERTIES_TOO_LARGE: f"the properties are larger than {MAX_PROPERTIES_BYTES} bytes",
    Reason.TIMESTAMP_IN_FUTURE: "the event time is in the future",
    Reason.TIMESTAMP_TOO_OLD: "the event time is before the year 2000",
    Reason.OUTSIDE_RETENTION: "the event is older than its retention period",
    Reason.CLOCK_SKEW: "the device's clock puts the event in another month than it happened",
}


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    details: dict[str, Any]

    @property
    def message(self) -> str:
        return MESSAGES[self.reason]


def refuse(reason: Reason, **details: Any) -> Refusal:
    return Refusal(reason, details)


# --- time -------------------------------------------------------------------------------


def event_time(
    received_at: datetime, timestamp: datetime | None, sent_at: datetime | None
) -> datetime:
    """When the event happened, on the server's clock.

    With the batch's ``sent_at``, the device's clock error cancels out, as analytics
    collectors do it: received - (sent_at - timestamp). Without it the device's own
    timestamp is taken as is; without a timestamp, the time of receipt.

    Any two valid times are accepted: when the corrected time lies beyond what a
    ``datetime`` can hold (a ``timestamp`` in year 1 and a ``sent_at`` in 9999, or the
    reverse), the nearest end is returned, which :class:`TimeWindow` refuses with the same
    reason as the true time; one such event used to make its whole batch fail (F11)."""
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    skew = sent_at - timestamp  # the difference of two datetimes always fits a timedelta
    try:
        return received_at - skew
    except OverflowError:
        return LATEST_TIME if skew < timedelta(0) else EARLIEST_TIME


def in_utc_range(moment: datetime) -> bool:
    """Whether ``moment`` can be written in UTC, as the event store keeps every time: an
    offset can push 0001-01-01 or 9999-12-31 past the ends of ``datetime``."""
    return EARLIEST_TIME <= moment <= LATEST_TIME  # aware comparisons never overflow


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The event times one category accepts at one moment of receipt, worked out once per
    batch (the retention cut-off is a bisection) and then checked per event: not after now
    (beyond a small tolerance), not before 2000, not already past the category's retention
    ``period`` — times the event store cannot hold honestly are refused."""

    latest: datetime  # after this: in the future
    cutoff: datetime  # at or before this: past the retention period
    period: str

    @classmethod
    def at(cls, received_at: datetime, period: str) -> TimeWindow:
        # The minute after ``received_at`` errs on the side of refusing: never keep too long.
        next_minute = received_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return cls(received_at + FUTURE_TOLERANCE, retention_cutoff(next_minute, period), period)

    def check(self, occurred_at: datetime) -> Refusal | None:
        if occurred_at > self.latest:
            return refuse(Reason.TIMESTAMP_IN_FUTURE)
        if occurred_at < EARLIEST_EVENT:
            return refuse(Reason.TIMESTAMP_TOO_OLD)
        if occurred_at <= self.cutoff:
            return refuse(Reason.OUTSIDE_RETENTION, retention_period=self.period)
        return None


@functools.lru_cache(maxsize=256)
def retention_cutoff(now: datetime, period: str) -> datetime:
    """The latest ``t`` with ``t + period <= now``: data from then or before has been kept
    its whole period. Calendar periods (month ends clamped) have no exact inverse, so it is
    found by bisection over :func:`add_duration`, which is monotonic (exact to 1 µs)."""
    low, high = EARLIEST_EVENT - timedelta(days=1), now
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if add_duration(middle, period) <= now:
            low = middle
        else:
            high = middle
    return low


# --- properties -------------------------------------------------------------------------

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # built once: fast


def compact_json(value: Any) -> str:
    return _COMPACT.encode(value)


@dataclass(frozen=True)
class SplitProperties:
    dimensions: dict[str, Any]  # stored as sent, for analysis
    personal: dict[str, Any]  # encrypted under the person's key


def _upper_bound(properties: dict[str, Any]) -> int:
    """A bound on the UTF-8 size of the compact JSON of parsed JSON properties, without
    encoding them: ``repr`` writes every character of a string as at least one character,
    and JSON as at most 6 bytes (``\\uXXXX``); everything else is no longer in JSON than in
    ``repr`` but ``Infinity`` (8 for 3). One C call, where the exact size takes a JSON
    encoding and a UTF-8 one."""
    return 6 * len(repr(properties))


def split_properties(
    properties: dict[str, Any], kind: EventKind | None
) -> SplitProperties | Refusal:
    """Check the size and the names against the policy, then separate plain dimensions from
    personal values. ``kind`` None (the policy lists no event names): all are personal."""
    if _upper_bound(properties) > MAX_PROPERTIES_BYTES:  # cheap; usually settles it
        size = len(compact_json(properties).encode())
    else:
        size = 0
    if size > MAX_PROPERTIES_BYTES:
        return refuse(Reason.PROPERTIES_TOO_LARGE, max_bytes=MAX_PROPERTIES_BYTES)
    if kind is None:
        return SplitProperties({}, dict(properties))
    allowed, personal = _names(kind.dimensions, kind.personal)
    if not properties.keys() <= allowed:
        unknown = sorted(name for name in properties if name not in allowed)
        # Only names shaped like identifiers are echoed back: a key could hold anything.
        shown = [name for name in unknown if name.isidentifier() and name.islower()][:10]
        return refuse(Reason.PROPERTY_NOT_ALLOWED, properties=shown, allowed=sorted(allowed))
    if personal.isdisjoint(properties):  # most events: nothing personal, nothing to copy
        return SplitProperties(dict(properties), {})
    return SplitProperties(
        {k: v for k, v in properties.items() if k not in personal},
        {k: v for k, v in properties.items() if k in personal},
    )


@functools.lru_cache(maxsize=256)
def _names(
    dimensions: tuple[str, ...], personal: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed, personal) property names of an event kind, as sets built once."""
    return frozenset(dimensions) | frozenset(personal), frozenset(personal)


# --- IP addresses -----------------------------------------------------------------------


def minimise_ip(address: str | None, rules: IpRules) -> str | None:
    """What the policy lets us keep of an address: nothing, its network prefix
    ("203.0.113.0/24", "2001:db8:1::/48"), or — for a declared security purpose — all of it.
    IPv4-mapped IPv6 addresses count as IPv4. ``ValueError`` for text that is no address."""
    if address is None or rules.mode == IpMode.DROP:
        return None
    return _minimised(address.strip(), str(rules.mode), rules.ipv4_prefix, rules.ipv6_prefix)


@functools.lru_cache(maxsize=IP_CACHE_SIZE)
def _minimised(address: str, mode: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    ip = ipaddress.ip_address(address)  # ValueError (not cached) when it is no address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if mode == IpMode.FULL:
        return str(ip)
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def is_whole_address(stored: str) -> bool:
    return "/" not in stored


@dataclass(frozen=True, slots=True)
class IpExpiry:
    """Which stored addresses are past their retention, as seen :data:`IP_EXPIRY_AHEAD`
    after a moment: shortened ones after the ``network.ip`` period, whole ones
    (``events.ip.mode: full``) after their own period. The maintenance round clears what
    :meth:`keep` would drop; ingestion stores only what it keeps, so a backdated event's
    address is never written at all once it is past its period."""

    prefix_cutoff: datetime  # shortened addresses of events at or before this are expired
    whole_cutoff: datetime  # the same for whole addresses

    @classmethod
    def at(cls, moment: datetime, prefix_period: str, whole_period: str | None) -> IpExpiry:
        # Rounded up to the minute: errs on the side of clearing, and the bisections are
        # cached for every batch of that minute.
        ahead = (moment + IP_EXPIRY_AHEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
        prefix = retention_cutoff(ahead, prefix_period)
        whole = retention_cutoff(ahead, whole_period) if whole_period is not None else prefix
        return cls(prefix, whole)

    @classmethod
    def of(cls, policy: Policy, moment: datetime) -> IpExpiry:
        """The policy's periods: ``network.ip``'s, and the whole addresses' own (if any).
        A policy without the ``network.ip`` category may keep no address at all."""
        if NETWORK_CATEGORY not in policy.category_ids:
            return cls(LATEST_TIME, LATEST_TIME)
        full = policy.events.ip.full
        return cls.at(
            moment,
            policy.retention_rule_for(NETWORK_CATEGORY).period,
            full.period if full is not None else None,
        )

    def keep(self, stored: str | None, occurred_at: datetime) -> str | None:
        """``stored`` if it may still be kept for an event of ``occurred_at``, else None."""
        if stored is None:
            return None
        cutoff = self.whole_cutoff if is_whole_address(stored) else self.prefix_cutoff
        return None if occurred_at <= cutoff else stored


# --- month partitions -------------------------------------------------------------------


def month_start(moment: datetime) -> date:
    """The first day of the (UTC) month holding ``moment``."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@functools.lru_cache(maxsize=256)  # a few months per batch, asked for every event
def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of a month in UTC: the range of its partition."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end_month = next_month(month)
    return start, datetime(end_month.year, end_month.month, 1, tzinfo=UTC)


def partition_name(month: date) -> str:
    return f"{PARTITION_PREFIX}{month.year:04d}{month.month:02d}"


def month_of_partition(name: str) -> date | None:
    """The month a partition table holds, or None for a name that is not one."""
    digits = name.removeprefix(PARTITION_PREFIX)
    if name == digits or len(digits) != 6 or not digits.isdigit():
        return None
    year, month = int(digits[:4]), int(digits[4:])
    return date(year, month, 1) if 1 <= month <= 12 else None


def months_ahead(now: datetime, count: int) -> list[date]:
    """This month and the ``count`` following ones: partitions made before they are needed."""
    months = [month_start(now)]
    for _ in range(count):
        months.append(next_month(months[-1]))
    return months


@dataclass(frozen=True, slots=True)
class Filing:
    """Where an event is stored: its filing month (the partition), its time inside that
    month, and another month a copy from an earlier try may be in (when the month could not
    be taken from what the device sent)."""

    month: date
    occurred_at: datetime
    neighbour: date | None = None


def file_event(
    timestamp: datetime | None, event_id: uuid.UUID, received_at: datetime, occurred_at: datetime
) -> Filing | None:
    """The month an event is filed under, the same on every try of it; None when the
    device's clock puts it more than :data:`MAX_MONTH_SHIFT` into another month than the
    corrected time (``clock_skew``).

    The month is that of the device's timestamp as sent; without one, of the time in a
    time-ordered id (UUIDv7, RFC 9562: the Python client sends those). The corrected time is
    then moved into that month if it lies just outside (:func:`into_month`; a moved event
    names its corrected time's month as ``neighbour``). Only when the device's clock is not
    set (before 2000, or more than a day ahead) or the event brings no time at all is the
    month that of the corrected time (or of receipt): a retry can then fall in the next or
    previous month, so an event within a day of a month's end names that month as
    ``neighbour`` to look in too."""
    stable = _sent_month(timestamp, event_id, received_at)
    if stable is not None:
        moved = into_month(occurred_at, stable)
        if moved is None:
            return None
        # Moved: a try whose clock looked unset filed it under the corrected time's month.
        return Filing(stable, moved, None if moved == occurred_at else month_start(occurred_at))
    month = month_start(occurred_at)
    if not EARLIEST_EVENT <= occurred_at <= received_at + FUTURE_TOLERANCE:
        return Filing(month, occurred_at)  # refused by the time window anyway
    start, end = month_bounds(month)
    if occurred_at - start <= MAX_MONTH_SHIFT:
        return Filing(month, occurred_at, month_start(start - MAX_MONTH_SHIFT))
    if end - occurred_at <= MAX_MONTH_SHIFT:
        return Filing(month, occurred_at, next_month(month))
    return Filing(month, occurred_at)


def _sent_month(
    timestamp: datetime | None, event_id: uuid.UUID, received_at: datetime
) -> date | None:
    """The month of what the device sent: its timestamp, else its UUIDv7 id's time; None for
    a clock that is not set (before 2000, or more than a day after the receipt) or neither."""
    if timestamp is not None:
        if EARLIEST_EVENT <= timestamp <= received_at + MAX_MONTH_SHIFT:
            return month_start(timestamp)
        return None
    if event_id.version == 7:
        moment = datetime.fromtimestamp((event_id.int >> 80) / 1000, UTC)
        if EARLIEST_EVENT <= moment <= received_at + FUTURE_TOLERANCE:
            return month_start(moment)
    return None


def into_month(occurred_at: datetime, month: date) -> datetime | None:
    """``occurred_at`` moved into ``month`` (its filing month), so that every event of a
    partition has its time in that partition's month and retention can drop months whole;
    None when that would move it by more than :data:`MAX_MONTH_SHIFT` (a device clock more
    than a day wrong, across a month's end: refused as ``clock_skew``). Unchanged when
    already inside."""
    if month.year == LATEST_TIME.year and month.month == LATEST_TIME.month:
        return None  # no partition can hold December 9999 (its end is past a datetime's)
    start, end = month_bounds(month)
    if occurred_at < start:
        moved = start
    elif occurred_at >= end:
        moved = end - timedelta(microseconds=1)
    else:
        return occurred_at
    return moved if abs(moved - occurred_at) <= MAX_MONTH_SHIFT else None


def expired_months(months: list[date], now: datetime, period: str) -> list[date]:
    """Months whose every event is past ``period``: the partitions retention may drop whole."""
    return [m for m in months if add_duration(month_bounds(m)[1], period) <= now]
