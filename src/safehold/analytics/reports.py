"""The reports: read the roll-ups, apply the small-cell rule, audit the release.

Only final roll-ups are released, so a report asked twice releases the same numbers (a
figure that grew between two asks would single out whoever made it grow). Cross-tabulations
(features, logins, compatibility, errors) are released per calendar month only — one fixed
partition per month, never a free date range, so no two reports overlap in part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import late, rules
from safehold.analytics.errors import PeriodNotFinal, RangeTooLong
from safehold.analytics.models import Rollup, RollupDay
from safehold.clock import Clock

MAX_BUCKETS = 366  # buckets in one active-people series
Period = Literal["day", "week", "month"]
TableKind = Literal[
    "features", "logins_by_hour", "logins_by_weekday", "compatibility", "errors",
    "device_types", "operating_systems", "browsers",
]  # fmt: skip
# One dimension of the compatibility cells on its own: report -> (its field, the position of
# that field in a platform cell). Each is its own partition, k-checked on its own.
DIMENSIONS: dict[str, tuple[str, int]] = {
    "device_types": ("device_type", 0),
    "operating_systems": ("os", 1),
    "browsers": ("browser", 3),
}

TABLES: dict[str, tuple[str, rules.Parent, tuple[str, ...]]] = {
    # report -> (grain, how small cells fold, categories it is made from)
    "features": (rules.NAME, rules.flat_parent, ("usage.action",)),
    "logins_by_hour": (rules.LOGIN_HOUR, rules.flat_parent, ("usage.login",)),
    "logins_by_weekday": (rules.LOGIN_WEEKDAY, rules.flat_parent, ("usage.login",)),
    "compatibility": (rules.PLATFORM, rules.platform_parent, ("device.info", "usage.action")),
    "errors": (rules.PLATFORM, rules.platform_parent, ("device.info", "usage.action")),
    "device_types": (rules.PLATFORM, rules.flat_parent, ("device.info", "usage.action")),
    "operating_systems": (rules.PLATFORM, rules.flat_parent, ("device.info", "usage.action")),
    "browsers": (rules.PLATFORM, rules.flat_parent, ("device.info", "usage.action")),
}


@dataclass(frozen=True)
class Row:
    values: dict[str, str]
    people: int | None  # None: suppressed (fewer than k) or not final yet
    events: int | None = None
    errors: int | None = None
    status: str = "released"  # "released" | "suppressed" | "pending"

    @property
    def error_rate(self) -> float | None:
        if self.events is None or self.errors is None or self.events == 0:
            return None
        return round(self.errors / self.events, 4)


@dataclass(frozen=True)
class Report:
    name: str
    k: int
    first: date
    last: date
    fields: tuple[str, ...]
    rows: list[Row]
    withheld: bool = False  # people in cells too small to release even together
    folded: int = 0  # cells folded into "(other)" rows
    measures: tuple[str, ...] = field(default=("people", "events"))


def _audit(
    session: Session, actor: Actor, clock: Clock, name: str, categories: tuple[str, ...]
) -> None:
    audit.record(
        session, actor=actor, action=f"analytics.report.{name}", subject_id=None,
        categories=categories, purpose=rules.PURPOSE, outcome="ok", clock=clock,
    )  # fmt: skip


def _final_days(session: Session, first: date, last: date) -> set[date]:
    """Days built final and not reopened by a late event since (late.py)."""
    final = set(
        session.scalars(
            select(RollupDay.day).where(
                RollupDay.day >= first, RollupDay.day <= last, RollupDay.final.is_(True)
            )
        )
    )
    return final - late.open_days(session, first, last) if final else final


def _buckets(period: Period, first: date, last: date) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    start = {
        "day": first,
        "week": rules.week_start(first),
        "month": rules.month_start(first),
    }[period]
    while start <= last:
        if period == "day":
            end = start
        elif period == "week":
            end = start + timedelta(days=6)
        else:
            end = rules.month_days(start)[-1]
        out.append((start, end))
        start = end + timedelta(days=1)
        if len(out) > MAX_BUCKETS:
            raise RangeTooLong(
                "ask for fewer periods at once", details={"max_periods": MAX_BUCKETS}
            )
    return out


def active_people(
    session: Session, *, k: int, period: Period, first: date, last: date, actor: Actor,
    clock: Clock,
) -> Report:  # fmt: skip
    """Distinct active people (any event or sign-in) per day, ISO week or month. Each period
    is a cell of its own: released if final and of at least ``k`` people, else not."""
    report = _people_series(session, "active", rules.ALL, k, period, first, last)
    _audit(session, actor, clock, "active", ("usage.action", "usage.login"))
    session.flush()
    return report


def signed_in_people(
    session: Session, *, k: int, period: Period, first: date, last: date, actor: Actor,
    clock: Clock,
) -> Report:  # fmt: skip
    """Distinct people who signed in, per day, ISO week or month (the console's "logins per
    day"): the day's sign-in-hour cells merged. People, not sign-in counts, are released:
    counts add up across periods, so a suppressed day could be recovered by subtracting the
    released days from a month's total; distinct people do not add up."""
    report = _people_series(session, "logins", rules.LOGIN_HOUR, k, period, first, last)
    _audit(session, actor, clock, "logins", ("usage.login",))
    session.flush()
    return report


def _people_series(
    session: Session, name: str, grain: str, k: int, period: Period, first: date, last: date
) -> Report:
    buckets = _buckets(period, first, last)
    lo, hi = buckets[0][0], buckets[-1][1]
    final = _final_days(session, lo, hi)
    day_rows: dict[date, list[Rollup]] = {}
    for row in session.scalars(
        select(Rollup).where(
            Rollup.period == "day", Rollup.grain == grain, Rollup.start >= lo, Rollup.start <= hi
        )
    ):
        day_rows.setdefault(row.start, []).append(row)
    rows: list[Row] = []
    for start, end in buckets:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        values = {"period": period, "start": start.isoformat(), "end": end.isoformat()}
        if not all(d in final for d in days):
            rows.append(Row(values, None, status="pending"))
            continue
        sketch = rules.merge(rules.load(r.people) for d in days for r in day_rows.get(d, []))
        if rules.at_least(sketch, k):
            rows.append(Row(values, rules.people(sketch)))
        else:
            rows.append(Row(values, None, status="suppressed"))
    return Report(name, k, lo, hi, ("period", "start", "end"), rows, measures=("people",))


def table(
    session: Session, *, k: int, kind: TableKind, month: date, actor: Actor, clock: Clock,
    grace: timedelta = rules.GRACE_PERIOD,
) -> Report:  # fmt: skip
    """A cross-tabulation of one calendar month, with small cells folded into "(other)"."""
    grain, parent, categories = TABLES[kind]
    days = rules.month_days(month)
    if len(_final_days(session, days[0], days[-1])) < len(days):
        raise PeriodNotFinal(
            "this month's roll-ups are not final yet: every day of it must be past its grace "
            "period for late data, with the late events for it counted",
            details={"final_after_days": grace.days},
        )
    cells = [
        rules.Cell(rules.cell_values(r.cell), rules.load(r.people), r.events, r.errors)
        for r in session.scalars(
            select(Rollup).where(
                Rollup.period == "month", Rollup.start == days[0], Rollup.grain == grain
            )
        )
    ]
    names = rules.FIELDS[grain]
    if kind in DIMENSIONS:
        name, position = DIMENSIONS[kind]
        names = (name,)
        cells = [rules.Cell((c.key[position],), c.sketch, c.events, c.errors) for c in cells]
    released = rules.release(cells, k, parent)
    rows = [
        Row(dict(zip(names, c.key, strict=True)), rules.people(c.sketch), c.events, c.errors)
        for c in released.cells
    ]
    if kind == "errors":
        rows.sort(key=lambda r: (-(r.error_rate or 0.0), -(r.events or 0)))
    measures = (
        ("people", "events", "errors", "error_rate") if kind == "errors" else (("people", "events"))
    )
    _audit(session, actor, clock, kind, categories)
    session.flush()
    return Report(
        kind, k, days[0], days[-1], names, rows, released.withheld, released.folded, measures
    )
