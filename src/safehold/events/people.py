"""What events tell about people: their login history, the devices they use (once each,
with first and last use), their last activity, and the anonymous device ids that become
theirs when they sign in.

Linking: a ``login`` event that carries both the person's id and the device's
``anonymous_id`` links that id to the person (a keyed blind index, never the id itself).
Anonymous events the device sent in the :data:`rules.ANONYMOUS_LINK_WINDOW` before that
sign-in become the person's, and later anonymous events from the device are theirs until a
``logout`` with the same id unlinks it. Personal properties of events received anonymously
were never stored (there was no person's key to encrypt them under).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, case, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safehold.events import rules, storage
from safehold.events.devices import Device
from safehold.events.models import AnonymousLink, Login, SubjectDevice
from safehold.events.sealing import Keys, ip_values
from safehold.subjects.models import Subject
from safehold.vault.service import Vault

if TYPE_CHECKING:
    from safehold.events.intake import Pending
    from safehold.events.service import Context

ANONYMOUS_INDEX = "anonymous_id"  # the blind-index kind of anonymous device ids
ACTION_CATEGORY = "usage.action"
_SUBJECTS: Table = Subject.__table__  # type: ignore[assignment]
_DEVICES: Table = SubjectDevice.__table__  # type: ignore[assignment]
_LOGINS: Table = Login.__table__  # type: ignore[assignment]


def _dialect(session: Session) -> Any:
    return sqlite if session.get_bind().dialect.name == "sqlite" else postgresql


def resolve(
    session: Session, vault: Vault, anonymous_ids: Iterable[str | None]
) -> dict[str, tuple[str, uuid.UUID | None]]:
    """Each anonymous id's blind index and the person it is linked to (None: nobody yet)."""
    indexes = {a: vault.index(ANONYMOUS_INDEX, a) for a in anonymous_ids if a is not None}
    if not indexes:
        return {}
    rows = session.execute(
        select(AnonymousLink.anonymous_index, AnonymousLink.subject_id).where(
            AnonymousLink.anonymous_index.in_(set(indexes.values()))
        )
    ).all()
    found = {row[0]: row[1] for row in rows}
    return {a: (index, found.get(index)) for a, index in indexes.items()}


def upsert_devices(
    session: Session, seen: Sequence[tuple[uuid.UUID, Device, datetime]]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """Record each (person, device) once, widening its first/last use; returns device ids."""
    spans: dict[tuple[uuid.UUID, str], tuple[Device, datetime, datetime]] = {}
    for subject_id, device, at in seen:
        key = (subject_id, device.fingerprint)
        _, first, last = spans.get(key, (device, at, at))
        spans[key] = (device, min(first, at), max(last, at))
    if not spans:
        return {}
    rows = [
        {
            "id": uuid.uuid4(),
            "subject_id": subject_id,
            "fingerprint": fingerprint,
            "device_type": str(device.device_type),
            "os_family": device.os_family,
            "os_major": device.os_major,
            "browser_family": device.browser_family,
            "browser_major": device.browser_major,
            "brand": device.brand,
            "first_seen_at": first,
            "last_seen_at": last,
        }
        for (subject_id, fingerprint), (device, first, last) in sorted(spans.items())
    ]
    statement = _dialect(session).insert(_DEVICES)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["subject_id", "fingerprint"],
        set_={
            "brand": func.coalesce(new.brand, _DEVICES.c.brand),
            "first_seen_at": case(
                (new.first_seen_at < _DEVICES.c.first_seen_at, new.first_seen_at),
                else_=_DEVICES.c.first_seen_at,
            ),
            "last_seen_at": case(
                (new.last_seen_at > _DEVICES.c.last_seen_at, new.last_seen_at),
                else_=_DEVICES.c.last_seen_at,
            ),
        },
    ).returning(_DEVICES.c.subject_id, _DEVICES.c.fingerprint, _DEVICES.c.id)
    # executemany (compiled once); the rows are sorted, so writers lock in the same order.
    found = session.connection().execute(statement, rows).all()
    return {(row[0], row[1]): row[2] for row in found}


def forget_devices(session: Session, devices: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """Delete these (person, device id) devices; the logins made on them keep their times
    and lose the device (the foreign key is on both columns, so the database cannot empty
    just one). Returns the devices deleted."""
    if not devices:
        return 0
    session.execute(
        update(Login)
        .where(tuple_(Login.subject_id, Login.device_id).in_(devices))
        .values(device_id=None)
    )
    gone = session.execute(
        delete(SubjectDevice).where(tuple_(SubjectDevice.subject_id, SubjectDevice.id).in_(devices))
    )
    return int(getattr(gone, "rowcount", 0))


def touch_people(session: Session, known: Iterable[Pending]) -> None:
    """Move each person's last activity forward to their latest event (never back)."""
    latest: dict[uuid.UUID, datetime] = {}
    for p in known:
        if p.subject_id is not None:
            latest[p.subject_id] = max(p.occurred_at, latest.get(p.subject_id, p.occurred_at))
    if not latest:
        return
    statement = (
        update(_SUBJECTS)
        .where(
            _SUBJECTS.c.id == bindparam("b_id"), _SUBJECTS.c.last_activity_at < bindparam("b_at")
        )
        .values(last_activity_at=bindparam("b_at"))
    )
    session.connection().execute(
        statement, [{"b_id": sid, "b_at": at} for sid, at in sorted(latest.items())]
    )


@dataclass
class Linked:
    """What sign-ins linked: per person, the categories of anonymous events that became
    theirs, and those events (id, time) — a person's now, so counted by the roll-ups."""

    categories: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    events: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)


def link_devices(
    session: Session, ctx: Context, signs_in: Sequence[Pending], now: datetime
) -> Linked:
    """Link (login) or unlink (logout) anonymous ids, claiming the anonymous events before
    each sign-in."""
    linked = Linked()
    for p in sorted(signs_in, key=lambda p: p.occurred_at):
        anonymous_id, subject_id = p.event.anonymous_id, p.subject_id
        if anonymous_id is None or subject_id is None:
            continue
        index = ctx.vault.index(ANONYMOUS_INDEX, anonymous_id)
        if p.event.name == ctx.policy.events.logout_event:
            session.execute(
                delete(AnonymousLink).where(
                    AnonymousLink.anonymous_index == index, AnonymousLink.subject_id == subject_id
                )
            )
            continue
        statement = (
            _dialect(session)
            .insert(AnonymousLink)
            .values(anonymous_index=index, subject_id=subject_id, linked_at=now)
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["anonymous_index"],
                set_={"subject_id": subject_id, "linked_at": now},
            )
        )
        moved = _claim_anonymous(session, index, subject_id, p.occurred_at)
        if moved:
            linked.categories.setdefault(subject_id, set()).add(ACTION_CATEGORY)
            linked.events.extend(moved)
    return linked


def _claim_anonymous(
    session: Session, index: str, subject_id: uuid.UUID, signed_in_at: datetime
) -> list[tuple[uuid.UUID, datetime]]:
    """Give the person the device's anonymous events from just before the sign-in, and
    count their devices; returns the events (id, time) that became theirs."""
    since = signed_in_at - rules.ANONYMOUS_LINK_WINDOW
    moved = storage.returned_each_month(
        session,
        lambda t: (
            update(t)
            .where(
                t.c.anonymous_index == index,
                t.c.subject_id.is_(None),
                t.c.month >= rules.month_start(since),  # PostgreSQL prunes by the month
                t.c.occurred_at >= since,
                t.c.occurred_at <= signed_in_at,
            )
            .values(subject_id=subject_id, anonymous_index=None)
            .returning(t.c.event_id, t.c.occurred_at)
        ),
        since=since,
    )
    if not moved:
        return []
    e = storage.EVENTS
    spans = session.execute(
        select(
            e.c.device_type, e.c.os_family, e.c.os_major, e.c.browser_family, e.c.browser_major,
            func.min(e.c.occurred_at), func.max(e.c.occurred_at),
        )
        .where(
            e.c.subject_id == subject_id,
            e.c.occurred_at >= since,
            e.c.occurred_at <= signed_in_at,
            e.c.device_type.isnot(None),
        )
        .group_by(
            e.c.device_type, e.c.os_family, e.c.os_major, e.c.browser_family, e.c.browser_major
        )
    ).all()  # fmt: skip
    seen = []
    for kind, os_family, os_major, browser, browser_major, first, last in spans:
        device = Device(kind, os_family, os_major, browser, browser_major)
        seen += [(subject_id, device, first), (subject_id, device, last)]
    upsert_devices(session, seen)
    return [(row[0], row[1]) for row in moved]


def record_logins(
    session: Session, ctx: Context, signs_in: Sequence[Pending],
    device_ids: dict[tuple[uuid.UUID, str], uuid.UUID], keys: Keys,
) -> list[Pending]:  # fmt: skip
    """Sign-ins open a login (its address sealed with ``keys``, ``events.sealing``); a
    sign-out closes the person's latest open one before it.
    Returns the sign-ins that are new: a login whose id is in the history already, or a
    sign-out whose id closed a login already, is a duplicate and changes nothing."""
    login_event = ctx.policy.events.login_event
    logins = [p for p in signs_in if p.event.name == login_event]
    fresh = _open_logins(session, logins, device_ids, keys)
    logouts = [p for p in signs_in if p.event.name != login_event]
    if not logouts:
        return fresh
    people = {p.subject_id for p in logouts}
    ids = {p.event_id for p in logouts}
    closed_by = set(
        session.scalars(
            select(Login.logout_id).where(Login.subject_id.in_(people), Login.logout_id.in_(ids))
        )
    )
    for p in sorted(logouts, key=lambda p: p.occurred_at):
        if p.event_id in closed_by:
            continue
        open_login = session.scalars(
            select(Login)
            .where(
                Login.subject_id == p.subject_id,
                Login.logged_out_at.is_(None),
                Login.logged_in_at <= p.occurred_at,
            )
            .order_by(Login.logged_in_at.desc())
            .limit(1)
        ).first()
        if open_login is not None:
            open_login.logged_out_at = p.occurred_at
            open_login.logout_properties = p.properties.dimensions or None
            open_login.logout_id = p.event_id
            session.flush()  # the next sign-out of the batch sees it closed
        fresh.append(p)
    return fresh


def _open_logins(
    session: Session, logins: Sequence[Pending],
    device_ids: dict[tuple[uuid.UUID, str], uuid.UUID], keys: Keys,
) -> list[Pending]:  # fmt: skip
    """Insert the logins whose (person, id) is new, in key order; returns them."""
    if not logins:
        return []
    rows = []
    for p in sorted(
        logins, key=lambda p: (p.subject_id.int if p.subject_id else 0, p.event_id.int)
    ):
        assert p.subject_id is not None  # sign-ins always name their person (rules)
        device_id = device_ids.get((p.subject_id, p.device.fingerprint)) if p.device else None
        rows.append(
            {
                "id": p.event_id,
                "subject_id": p.subject_id,
                "logged_in_at": p.occurred_at,
                "logged_out_at": None,
                "device_id": device_id,
                "properties": p.properties.dimensions or None,
                "logout_properties": None,
                **ip_values(p, keys),
                "logout_id": None,
            }
        )
    statement = (
        _dialect(session)
        .insert(_LOGINS)
        .on_conflict_do_nothing(index_elements=["subject_id", "id"])
        .returning(_LOGINS.c.id)
    )
    new = set(session.connection().execute(statement, rows).scalars())
    return [p for p in logins if p.event_id in new]
