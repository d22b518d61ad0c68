"""ISO 8601 durations as the policy file writes them (``P30D``, ``P1M``, ``P2Y``, ``P13M``).

Retention periods, notice periods and request deadlines are calendar quantities: "1 month
after the request" ends on the same day number next month, not after 30 days. A
``timedelta`` cannot say that, so the policy keeps the ISO string and this module does the
calendar arithmetic (with end-of-month clamping), the comparison used by the differ, and
the plain-words rendering used by the renderer. ``rules.add_duration`` re-exports
:func:`add_duration`; it lives here so that ``schema`` can validate durations without
importing the decision logic.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import isodate

# Start dates the differ uses to compare calendar durations: every day of the month that
# can clamp (1, 28-31) in a leap year and in the years around it. "P1M" and "P30D" are
# longer than each other on different dates; comparing on all of them catches both.
_REFERENCE_DATES: tuple[datetime, ...] = tuple(
    datetime(year, month, day)  # noqa: DTZ001 - naive on purpose: pure calendar arithmetic
    for year in (2023, 2024, 2025)
    for month in range(1, 13)
    for day in (1, 28, 29, 30, 31)
    if day <= calendar.monthrange(year, month)[1]
)


@dataclass(frozen=True)
class DurationParts:
    """A parsed duration: whole calendar years and months, then an exact remainder."""

    years: int
    months: int
    days: int
    seconds: int

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    @property
    def is_zero(self) -> bool:
        return self.total_months == 0 and self.days == 0 and self.seconds == 0


def _whole(value: int | float | Decimal, what: str, iso: str) -> int:
    if value != int(value):
        msg = f"'{iso}' has a fractional number of {what}; use whole {what}"
        raise ValueError(msg)
    return int(value)


def parse_duration(iso: str) -> DurationParts:
    """Parse an ISO 8601 duration; raise ``ValueError`` with a readable message.

    Negative and fractional year/month durations are refused: a retention period of
    "-1 day" or "1.5 years" has no unambiguous meaning.
    """
    if not isinstance(iso, str) or not iso.startswith("P"):
        msg = f"{iso!r} is not an ISO 8601 duration (it must start with 'P', e.g. P30D)"
        raise ValueError(msg)
    try:
        parsed = isodate.parse_duration(iso)
    except (isodate.ISO8601Error, ValueError) as exc:
        msg = f"'{iso}' is not an ISO 8601 duration (e.g. P30D, P1M, P2Y)"
        raise ValueError(msg) from exc
    if isinstance(parsed, timedelta):
        years, months, rest = 0, 0, parsed
    else:
        years = _whole(parsed.years, "years", iso)
        months = _whole(parsed.months, "months", iso)
        rest = parsed.tdelta
    if years < 0 or months < 0 or rest < timedelta(0):
        msg = f"'{iso}' is negative; durations in a policy count forwards"
        raise ValueError(msg)
    return DurationParts(years, months, rest.days, rest.seconds)


def check_positive_duration(iso: str) -> DurationParts:
    """Parse a duration that the policy uses as a period: it must be longer than zero."""
    parts = parse_duration(iso)
    if parts.is_zero:
        msg = f"'{iso}' is zero; a period must be longer than zero"
        raise ValueError(msg)
    return parts


def add_duration(dt: datetime, iso: str) -> datetime:
    """Return ``dt`` plus the ISO duration, with calendar months and years.

    Years and months are added first on the calendar, clamping the day to the end of the
    target month (31 January + P1M = 28 or 29 February), then the exact days and seconds.
    This is the order ISO 8601 and ``isodate`` use, and it keeps the function monotonic:
    a later start never gives an earlier end. Time zone information is kept as is.
    """
    parts = parse_duration(iso)
    year_shift, month_index = divmod(dt.month - 1 + parts.total_months, 12)
    year = dt.year + year_shift
    month = month_index + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    shifted = dt.replace(year=year, month=month, day=day)
    return shifted + timedelta(days=parts.days, seconds=parts.seconds)


def compare_durations(old: str, new: str) -> int | None:
    """Compare two durations on every reference start date.

    Returns -1 if ``new`` is never longer and sometimes shorter, 1 if it is never shorter
    and sometimes longer, 0 if they always end together, and ``None`` if each is longer
    on some dates (``P1M`` against ``P30D``). Callers treat ``None`` as "can be longer".
    """
    longer = shorter = False
    for start in _REFERENCE_DATES:
        old_end, new_end = add_duration(start, old), add_duration(start, new)
        longer = longer or new_end > old_end
        shorter = shorter or new_end < old_end
    if longer and shorter:
        return None
    if longer:
        return 1
    return -1 if shorter else 0


def can_exceed(duration: str, limit: str) -> bool:
    """True if ``duration`` ends after ``limit`` from at least one start date."""
    return compare_durations(limit, duration) in (1, None)


def _unit(count: int, singular: str) -> str:
    return f"{count} {singular}" if count == 1 else f"{count} {singular}s"


def duration_in_words(iso: str) -> str:
    """ "P30D" -> "30 days", "P1Y6M" -> "1 year and 6 months", "P2W" -> "14 days"."""
    parts = parse_duration(iso)
    hours, remainder = divmod(parts.seconds, 3600)
    minutes, seconds = divmod(remainder, 60)
    pieces = [
        _unit(count, name)
        for count, name in (
            (parts.years, "year"),
            (parts.months, "month"),
            (parts.days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (seconds, "second"),
        )
        if count
    ]
    if not pieces:
        return "no time"
    if len(pieces) == 1:
        return pieces[0]
    return ", ".join(pieces[:-1]) + " and " + pieces[-1]
