"""Ingesting a batch of usage events: validate each event, find its person, ask the policy,
claim its id, then store it — events in their month, sign-ins in the login history, devices
once per person — and audit one entry per person. Services flush, never commit: the route
commits before it answers 202, so an acknowledged event is durable.

The order of statements matters. The batch's first write registers its months (taking
SQLite's write lock before anything is read; creating a new month before any lock on the
events table is held); the events go in first, in key order, and their month's unique key
says which were received before (duplicates: nothing else is written for them); the audit
entries come last, one statement on the chain the connection owns (``access.chains``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import late
from safehold.clock import Clock
from safehold.events import intake, people, rules, sealing, storage
from safehold.events.intake import PERSONAL_FIELD as PERSONAL_FIELD  # re-exported
from safehold.events.intake import Outcome as Outcome  # re-exported
from safehold.events.intake import Pending
from safehold.events.rules import Reason, Refusal, refuse
from safehold.events.schemas import BatchIn
from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.policy.rules import SubjectState, decide
from safehold.subjects.models import Subject
from safehold.subjects.state import states_of
from safehold.vault import rules as vault_rules
from safehold.vault.service import Vault

INGEST_PURPOSE = "service_provision"  # recording usage serves the contract (and its security)
DEVICE_CATEGORY = "device.info"
NETWORK_CATEGORY = "network.ip"
IN_CHUNK = 1_000  # ids per IN (...) list


@dataclass(frozen=True)
class Context:
    vault: Vault
    policy: Policy
    clock: Clock
    book: PolicyBook | None = None


def ingest(
    session: Session, ctx: Context, batch: BatchIn, *, actor: Actor, received_at: datetime
) -> list[Outcome]:
    """Store what can be stored of ``batch``; one outcome per event, in order."""
    outcomes: dict[int, Outcome] = {}
    pending = intake.check(ctx.policy, batch, received_at, outcomes)
    if pending:
        months = {p.filing.month for p in pending if p.filing is not None}
        storage.ensure_months(
            session, months | set(rules.months_ahead(received_at, 1)), received_at
        )
        pending = _resolve_people(session, ctx, pending, outcomes, received_at)
        fresh = _store(session, ctx, pending, received_at, actor)
        stored = {p.index for p in fresh}
        for p in pending:
            if p.index not in stored:
                outcomes[p.index] = Outcome(p.index, p.event_id, "duplicate")
        for p in fresh:
            details = {"dropped_properties": p.dropped} if p.dropped else None
            outcomes[p.index] = Outcome(p.index, p.event_id, "accepted", details=details)
    session.flush()
    return [outcomes[i] for i in range(len(batch.events))]


# --- 2. whose event is it, and may we record it? ------------------------------------------


def _resolve_people(
    session: Session, ctx: Context, pending: list[Pending], outcomes: dict[int, Outcome],
    now: datetime,
) -> list[Pending]:  # fmt: skip
    links = people.resolve(
        session, ctx.vault, {p.event.anonymous_id for p in pending if p.event.subject_id is None}
    )
    for p in pending:
        if p.event.subject_id is not None:
            p.subject_id = p.event.subject_id
        elif p.event.anonymous_id is not None:
            p.anonymous_index, p.subject_id = links[p.event.anonymous_id]
    ids = sorted({p.subject_id for p in pending if p.subject_id is not None})
    subjects: dict[uuid.UUID, Subject] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        # Locked until the batch commits, so an erasure that starts meanwhile waits for it
        # and then deletes its events, or the batch waits and sees "erased". In id order
        # (ORDER BY: PostgreSQL locks rows as the sort emits them; without it a small table's
        # sequential scan locks them in heap order, and two batches sharing people deadlock).
        locked = (
            select(Subject)
            .where(Subject.id.in_(chunk))
            .order_by(Subject.id)
            .with_for_update(key_share=True)
        )
        subjects.update((s.id, s) for s in session.scalars(locked))
    wanted: dict[uuid.UUID, set[str]] = defaultdict(set)
    for p in pending:
        if p.subject_id is not None:
            wanted[p.subject_id].add(p.category)
    live = [s for s in subjects.values() if s.status != "erased"]
    states = states_of(session, live, ctx.book, now)  # two queries for the whole batch
    allowed = {sid: _allowed(ctx, subjects.get(sid), wanted[sid], states) for sid in ids}
    kept = []
    for p in pending:
        verdict = allowed.get(p.subject_id) if p.subject_id is not None else None
        if isinstance(verdict, Refusal):
            outcomes[p.index] = Outcome(p.index, p.event_id, "rejected", verdict)
            continue
        if verdict is not None:
            if p.category not in verdict:
                refusal = refuse(
                    Reason.PURPOSE_REFUSED, rule=f"purposes.{INGEST_PURPOSE}.categories"
                )
                outcomes[p.index] = Outcome(p.index, p.event_id, "rejected", refusal)
                continue
            p.device = p.device if DEVICE_CATEGORY in verdict else None
            p.ip = p.ip if NETWORK_CATEGORY in verdict else None
        else:  # anonymous: nothing personal can be kept without a person's key
            p.dropped = sorted(p.properties.personal)
            p.ip = None  # nor the address (decision 0043, "IP addresses")
        kept.append(p)
    return kept


def _allowed(
    ctx: Context, subject: Subject | None, wanted: set[str], states: dict[uuid.UUID, SubjectState]
) -> frozenset[str] | Refusal:
    """The categories the policy lets us record for this person, or why not."""
    if subject is None:
        return refuse(Reason.UNKNOWN_SUBJECT)
    if subject.status == "erased":
        return refuse(Reason.SUBJECT_ERASED)
    decision = decide(
        ctx.policy,
        INGEST_PURPOSE,
        [*sorted(wanted), DEVICE_CATEGORY, NETWORK_CATEGORY],
        states[subject.id],
    )
    if decision.refused:
        return refuse(Reason.PURPOSE_REFUSED, rule=decision.refused_rule)
    return frozenset(decision.allowed)


# --- 3. store: exactly once ----------------------------------------------------------------


def _store(
    session: Session, ctx: Context, pending: list[Pending], now: datetime, actor: Actor
) -> list[Pending]:
    """Store what is new; returns those events (the others are duplicates)."""
    actions = _not_in_neighbours(session, [p for p in pending if not p.signs_in])
    logins = [p for p in pending if p.signs_in and p.event.name == ctx.policy.events.login_event]
    sealing.epoch_classes(ctx.vault, ctx.policy, actions, logins)
    keys = sealing.data_keys(session, ctx.vault, [*actions, *logins])  # once per batch
    stored = storage.insert_rows(session, [_row(p, now, keys) for p in actions])
    # Devices and last activity only move outwards (min/max): a duplicate changes nothing.
    device_ids = people.upsert_devices(
        session,
        [
            (p.subject_id, p.device, p.occurred_at)
            for p in pending
            if p.subject_id is not None and p.device is not None
        ],
    )
    signs_in = people.record_logins(
        session, ctx, [p for p in pending if p.signs_in], device_ids, keys
    )
    fresh = [p for p in actions if (_owner(p).int, p.event_id.int) in stored]
    fresh = sorted([*fresh, *signs_in], key=lambda p: p.index)
    known = [p for p in fresh if p.subject_id is not None]
    linked = people.link_devices(session, ctx, signs_in, now)
    people.touch_people(session, known)
    # People's events of a day that had already ended reopen it for the roll-ups.
    counted = [(p.event_id, p.occurred_at) for p in known if not (p.device and p.device.is_bot)]
    late.record(session, late.late_days(now, counted + linked.events))
    session.flush()  # everything but the audit entries, appended last
    _audit(session, ctx, known, linked.categories, actor)
    return fresh


def _not_in_neighbours(session: Session, actions: list[Pending]) -> list[Pending]:
    """Leave out the events already stored in the neighbouring month their filing names (an
    event whose month came from the corrected time: an earlier try may have landed there)."""
    probes = [
        (_owner(p), p.filing.neighbour, p.event_id)
        for p in actions
        if p.filing is not None and p.filing.neighbour is not None
    ]
    if not probes:
        return actions
    found = storage.stored_keys(session, probes)
    return [p for p in actions if (_owner(p), p.event_id) not in found]


def _owner(p: Pending) -> uuid.UUID:
    """Who sent the event (``storage.owner_of``): the same on every try."""
    return storage.owner_of(p.event.subject_id, p.anonymous_index)


def _row(p: Pending, now: datetime, keys: sealing.Keys) -> dict[str, Any]:
    personal, klass = None, None
    if p.subject_id is not None and p.personal_class is not None:
        klass = p.personal_class
        # What Vault.encrypt does, with the key fetched once for the batch (_data_keys).
        personal = vault_rules.encrypt_field(
            keys[(p.subject_id, klass)],
            rules.compact_json(p.properties.personal).encode(),
            subject_id=p.subject_id,
            category=p.category,
            field=PERSONAL_FIELD,
        )
    device = p.device
    return {
        "event_id": p.event_id,
        "occurred_at": p.occurred_at,
        "client_time": p.event.timestamp,
        "received_at": now,
        "subject_id": p.subject_id,
        "anonymous_index": p.anonymous_index if p.subject_id is None else None,
        "name": p.event.name,
        "category": p.category,
        "properties": p.properties.dimensions or None,
        "personal": personal,
        "retention_class": klass,
        "device_type": device.device_type if device else None,
        "os_family": device.os_family if device else None,
        "os_major": device.os_major if device else None,
        "browser_family": device.browser_family if device else None,
        "browser_major": device.browser_major if device else None,
        "is_bot": bool(device and device.is_bot),
        **sealing.ip_values(p, keys),  # a known person's address sealed, never plain
        "month": p.filing.month if p.filing is not None else None,
        "owner_id": _owner(p),
    }


def _audit(
    session: Session, ctx: Context, known: Iterable[Pending], linked: dict[uuid.UUID, set[str]],
    actor: Actor,
) -> None:  # fmt: skip
    """One entry per person: the categories recorded about them in this batch, appended
    together (:func:`audit.record_many`)."""
    recorded: dict[uuid.UUID, set[str]] = defaultdict(set)
    for p in known:
        assert p.subject_id is not None
        recorded[p.subject_id].add(p.category)
        if p.device is not None:
            recorded[p.subject_id].add(DEVICE_CATEGORY)
        if p.ip is not None:
            recorded[p.subject_id].add(NETWORK_CATEGORY)
    for subject_id, categories in linked.items():
        recorded[subject_id].update(categories)
    accesses = [
        audit.Access(actor, "events.ingest", sid, recorded[sid], INGEST_PURPOSE, "ok")
        for sid in sorted(recorded)
    ]
    audit.record_many(session, accesses, clock=ctx.clock)  # one statement per batch
