"""Late events: what ingestion writes so that a day's roll-up counts data that arrived after
the day ended, and what the roll-ups read back.

Ingestion adds one ``analytics_late_events`` row per event (or sign-in) whose UTC day had
already ended when its batch was received, in the batch's own transaction: live traffic
writes nothing here, an offline set-top box that syncs a week later writes a row per event.
A day with rows here is *open*: reports do not release it, and the next roll-up rebuilds it.

The roll-up takes the rows in three steps inside its transaction — :func:`claim` (mark the
day's rows that are committed now), count, :func:`forget` (delete what it marked) — so an
event is counted exactly once: a row committed after the claim stays for the next round,
and the scan of a full rebuild leaves its event out (:func:`settled`); a rolled-back round
takes its marks back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safehold.analytics.models import LateEvent

_LATE: Table = LateEvent.__table__  # type: ignore[assignment]


def late_days(received_at: datetime, occurred: Iterable[tuple[uuid.UUID, datetime]]) -> list[
    dict[str, Any]
]:  # fmt: skip
    """The rows to write for a batch received at ``received_at``: events of an earlier day."""
    today = received_at.date()
    return [
        {"event_id": event_id, "day": at.date(), "claimed": False}
        for event_id, at in occurred
        if at.date() < today
    ]


def record(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write the batch's late events (one multi-row INSERT; nothing for live traffic).
    Only new events come here (their month's key saw to it); an id already waiting — the
    same id sent by two senders, which the events keep apart — reopens its day already."""
    if rows:
        dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
        statement = dialect.insert(_LATE).on_conflict_do_nothing(index_elements=["event_id"])
        session.connection().execute(statement, rows)


def days_with_late(session: Session) -> set[date]:
    """Days with late events not counted yet: the roll-ups rebuild them next."""
    return set(session.scalars(select(LateEvent.day).distinct()))


def open_days(session: Session, first: date, last: date) -> set[date]:
    """Days of ``first``..``last`` reopened by late events: not final until rebuilt."""
    return set(
        session.scalars(
            select(LateEvent.day).where(LateEvent.day >= first, LateEvent.day <= last).distinct()
        )
    )


def claim(session: Session, days: Iterable[date]) -> None:
    """Mark the late events of ``days`` committed by now as this round's."""
    wanted = sorted(set(days))
    if wanted:
        session.execute(update(LateEvent).where(LateEvent.day.in_(wanted)).values(claimed=True))


def claimed(event_id: Any) -> ColumnElement[bool]:
    """True for an event claimed by this round (an incremental count takes only these)."""
    return exists(select(1).where(LateEvent.event_id == event_id, LateEvent.claimed.is_(True)))


def settled(event_id: Any) -> ColumnElement[bool]:
    """False for an event that arrived after this round's claim: the next round counts it."""
    return ~exists(select(1).where(LateEvent.event_id == event_id, LateEvent.claimed.is_(False)))


def forget(session: Session) -> None:
    """Delete the late events this round counted."""
    session.execute(delete(LateEvent).where(LateEvent.claimed.is_(True)))
