"""The analytics page's sections: each k-anonymous report of one month as a table and the
chart drawn from that same table. Nothing here counts anything itself: the numbers are the
released rows of :mod:`safehold.analytics.reports`, and a suppressed or pending cell stays
without a number in the table and out of the chart.

Device types, operating systems and browsers each have a report of their own (each
dimension's cells k-checked on their own, not sums of the crossed matrix's released cells),
and the crossed matrix beside them. Distinct people are never added up (one person may use
two devices).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from safehold import wording
from safehold.access.rules import Actor
from safehold.analytics import reports
from safehold.analytics import rules as analytics_rules
from safehold.analytics.errors import PeriodNotFinal
from safehold.clock import Clock
from safehold.console import rules

SUPPRESSED = "suppressed"
PENDING = "not final yet"


@dataclass
class Section:
    id: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    chart: dict[str, object] | None = None
    notes: list[str] = field(default_factory=list)


def _number(row: reports.Row, value: int | None) -> str:
    if row.status == "suppressed":
        return SUPPRESSED
    if row.status == "pending" or value is None:
        return PENDING
    return f"{value:,}"


def _table_notes(report: reports.Report) -> list[str]:
    notes = []
    if report.folded:
        notes.append(
            f"{report.folded} cell(s) of fewer than {report.k} people were folded into "
            f"“{analytics_rules.OTHER}”."
        )
    if report.withheld:
        notes.append(
            f"Some people were in cells too small to release even together: they are "
            f"left out (fewer than {report.k})."
        )
    return notes


def _series(
    session: Session, month: date, k: int, actor: Actor, clock: Clock, *, name: str,
    title: str, caption: str,
) -> Section:  # fmt: skip
    days = analytics_rules.month_days(month)
    read = reports.active_people if name == "active" else reports.signed_in_people
    report = read(
        session, k=k, period="day", first=days[0], last=days[-1], actor=actor, clock=clock
    )
    section = Section(name, title, caption, ["Day", "People"])
    labels = [r.values["start"][5:] for r in report.rows]
    section.rows = [[r.values["start"], _number(r, r.people)] for r in report.rows]
    values = [r.people if r.status == "released" else None for r in report.rows]
    section.chart = rules.chart(name, section.title, "line", labels, values)
    hidden = sum(1 for r in report.rows if r.status == "suppressed")
    if hidden:
        section.notes.append(
            f"{hidden} day(s) had fewer than {k} people: suppressed, not drawn, no number shown."
        )
    return section


def _flat(
    session: Session, month: date, k: int, actor: Actor, clock: Clock, *, kind: reports.TableKind,
    title: str, caption: str, label: str, key: Callable[[dict[str, str]], str],
    calendar: Sequence[str] | None = None,
) -> Section:  # fmt: skip
    """One table and its bar chart; in ``calendar`` order if given, else as the report
    orders it (by count)."""
    report = reports.table(session, k=k, kind=kind, month=month, actor=actor, clock=clock)
    rows = report.rows
    if calendar is not None:
        rows = sorted(rows, key=lambda r: rules.calendar_position(calendar, key(r.values)))
    section = Section(kind, title, caption, [label, "People", "Events"])
    section.rows = [[key(r.values), _number(r, r.people), _number(r, r.events)] for r in rows]
    section.chart = rules.chart(kind, title, "bar", [key(r.values) for r in rows],
                                [r.events for r in rows])  # fmt: skip
    section.notes = _table_notes(report)
    return section


def _device_words(value: str) -> str:
    """A device type in words ("Smart TV"); the folded row keeps its own label."""
    return value if value == analytics_rules.OTHER else wording.label(value, capital=True)


def _platforms(session: Session, month: date, k: int, actor: Actor, clock: Clock) -> list[Section]:
    """Each dimension's own distribution (device types, operating systems, browsers and
    apps), each its own report k-checked on its own; then the crossed matrix, whose cells
    are released where they reach k."""
    dimensions: tuple[tuple[reports.TableKind, str, str, Callable[[dict[str, str]], str]], ...] = (
        ("device_types", "Device types", "Device type", lambda v: _device_words(v["device_type"])),
        ("operating_systems", "Operating systems", "Operating system",
         lambda v: v["os"] or "unknown"),
        ("browsers", "Browsers and apps", "Browser or app", lambda v: v["browser"] or "unknown"),
    )  # fmt: skip
    out = [
        _flat(session, month, k, actor, clock, kind=kind, title=title, label=label, key=key,
              caption=f"People and events per {label.lower()} over the month, k-checked on "
              f"their own (cells of fewer than {k} people folded).")
        for kind, title, label, key in dimensions
    ]  # fmt: skip
    report = reports.table(session, k=k, kind="compatibility", month=month, actor=actor,
                           clock=clock)  # fmt: skip
    matrix = Section(
        "compatibility", "Compatibility matrix",
        "People and events per device type, operating system and browser or app (with "
        "versions), crossed: only combinations of at least k people are shown.",
        ["Device type", "Operating system", "Browser or app", "People", "Events"],
    )  # fmt: skip
    for r in report.rows:
        v = r.values
        matrix.rows.append([
            _device_words(v["device_type"]), f"{v['os']} {v['os_version']}".strip(),
            f"{v['browser']} {v['browser_version']}".strip(), _number(r, r.people),
            _number(r, r.events),
        ])  # fmt: skip
    matrix.notes = _table_notes(report)
    return [*out, matrix]


def sections(
    session: Session, *, month: date, k: int, actor: Actor, clock: Clock,
    grace: timedelta = analytics_rules.GRACE_PERIOD,
) -> tuple[list[Section], list[str]]:  # fmt: skip
    """Every section the month has, and why any other is missing (the month not final)."""
    out = [
        _series(session, month, k, actor, clock, name="active", title="Active people per day",
                caption="Distinct people with any event or sign-in, per UTC day."),
        _series(session, month, k, actor, clock, name="logins", title="Logins per day",
                caption="Distinct people who signed in, per UTC day (people, not sign-ins: "
                "counts could be subtracted to reveal a suppressed day)."),
    ]  # fmt: skip
    missing: list[str] = []
    try:
        out.append(_flat(session, month, k, actor, clock, kind="logins_by_weekday",
                         title="Logins per day of the week", label="Day",
                         caption="Sign-ins per weekday (UTC) over the month.",
                         key=lambda v: v["weekday"], calendar=rules.WEEKDAYS))  # fmt: skip
        out.append(_flat(session, month, k, actor, clock, kind="logins_by_hour",
                         title="Logins per hour of the day", label="Hour (UTC)",
                         caption="Sign-ins per UTC hour over the month.",
                         key=lambda v: v["hour"], calendar=rules.HOURS))  # fmt: skip
        out.extend(_platforms(session, month, k, actor, clock))
        out.append(_flat(session, month, k, actor, clock, kind="features",
                         title="Events per action", label="Action",
                         caption="Events and people per event name (feature use).",
                         key=lambda v: v["event"]))  # fmt: skip
    except PeriodNotFinal:
        missing.append(
            f"{month:%B %Y} is not final yet: the logins, compatibility and actions reports "
            "appear once every day of the month is final ("
            f"{grace.days} day{'s' if grace.days != 1 else ''} after it ended, and once any "
            "data that arrived late for it is counted)."
        )
    return out, missing
