"""Fictional people and raw events written straight into the month partitions, and the
brute-force recount the roll-ups must agree with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from safehold.analytics import late, rules
from safehold.analytics.models import Objection
from safehold.events import storage
from safehold.subjects.models import Subject

KEY = rules.person_key(b"\x01" * 32)
AT = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Raw:
    person: int
    name: str
    at: datetime
    platform: tuple[str, ...]


def people(session: Session, n: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    session.add_all(
        Subject(id=i, status="active", policy_version_shown="v1", created_at=AT,
                last_activity_at=AT, closed_at=None, erased_at=None)
        for i in ids
    )  # fmt: skip
    session.flush()
    return ids


def store(
    session: Session, ids: list[uuid.UUID], events: list[Raw]
) -> list[tuple[uuid.UUID, datetime]]:
    """Write ``events`` into their month partitions; returns each one's (id, time)."""
    storage.ensure_months(session, {rules.month_start(e.at.date()) for e in events}, AT)
    rows = []
    for e in events:
        device, os, os_major, browser, browser_major = e.platform
        rows.append({
            "event_id": uuid.uuid4(), "occurred_at": e.at, "client_time": e.at,
            "received_at": e.at, "subject_id": ids[e.person], "anonymous_index": None,
            "name": e.name, "category": "usage.action", "properties": {}, "personal": None,
            "retention_class": None, "device_type": device, "os_family": os,
            "os_major": os_major, "browser_family": browser, "browser_major": browser_major,
            "is_bot": False, "ip": None,
        })  # fmt: skip
    storage.insert_rows(session, rows)
    session.flush()
    return [(row["event_id"], row["occurred_at"]) for row in rows]


def arrive_late(
    session: Session, ids: list[uuid.UUID], events: list[Raw], received_at: datetime
) -> None:
    """Store ``events`` as a batch received at ``received_at`` would: with the late-event
    rows ingestion writes for those of an earlier day (``analytics.late``)."""
    late.record(session, late.late_days(received_at, store(session, ids, events)))
    session.flush()


Window = tuple[datetime, datetime | None]  # objected at, withdrawn at (None: still in force)


def object_(
    session: Session, subject_id: uuid.UUID, at: datetime, withdrawn_at: datetime | None = None
) -> None:
    session.add(Objection(id=uuid.uuid4(), subject_id=subject_id, purpose=rules.PURPOSE,
                          objected_at=at, actor="test", withdrawn_at=withdrawn_at))  # fmt: skip
    session.flush()


def objecting(objected: dict[int, Window], person: int, at: datetime) -> bool:
    """The brute-force rule: the person's objection covered ``at`` (from its time, up to but
    not including its withdrawal)."""
    if person not in objected:
        return False
    start, end = objected[person]
    return start <= at and (end is None or at < end)


def counted(events: list[Raw], objected: dict[int, Window]) -> list[Raw]:
    """An event counts unless the person's objection was in force when it happened."""
    return [e for e in events if not objecting(objected, e.person, e.at)]
