"""Sweep 2 of the retention run: personal values and cards, by retention class. Whole-person
periods (after closure, after last activity) shred the class's key and delete its rows;
``collected`` periods delete row by row and shred the key once nothing is left under it.
People still handled under a version with a shorter period for a class get that one too."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, not_, or_, select
from sqlalchemy.orm import Session

from safehold.db import transaction
from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events.service import DEVICE_CATEGORY, NETWORK_CATEGORY
from safehold.policy.diff import longer
from safehold.policy.document import Policy, RetentionFrom
from safehold.retention import rules
from safehold.retention.common import (
    Env,
    active_holds,
    audit_run,
    note_held,
)
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault.models import DataKey


def _stored_in_vault(policy: Policy) -> list[rules.ClassRule]:
    """Classes whose data lives in personal values and cards (not events, logins, devices)."""
    events = policy.events
    elsewhere = events_jobs.stored_categories(policy) | {
        DEVICE_CATEGORY, NETWORK_CATEGORY, events.category_of(events.login_event) or "",
    }  # fmt: skip
    return [r for r in rules.class_rules(policy) if not set(r.categories) & elsewhere]


def sweep_classes(env: Env, on_unit: Callable[[str], None] | None = None) -> None:
    for klass in _stored_in_vault(env.policy):
        whole = klass.start is not RetentionFrom.COLLECTED
        for category in klass.categories:  # every class is reported, also with nothing due
            env.report.line(category, klass.retention_class, _action(whole))
        for rule, only in (
            (klass, None),
            *_held_classes(env, klass),
            *unapplied(env.policy, klass),
        ):
            if rule.start is RetentionFrom.COLLECTED:
                _sweep_collected(env, rule, only)
            else:
                _sweep_people(env, rule, only)
        if on_unit is not None:
            on_unit(klass.retention_class)


def _held_classes(
    env: Env, klass: rules.ClassRule
) -> Iterator[tuple[rules.ClassRule, Select[uuid.UUID]]]:
    """The class with the shorter span of each group still handled under an older version,
    when that version keeps every category of the class for a shorter time (exceptions, kept
    under a legal basis, are not lengthened per person: see decision 0022)."""
    if klass.is_exception:
        return
    for group in env.held:
        spans = [group.spans.get(c) for c in klass.categories]
        if any(span is None for span in spans):
            continue
        span = spans[0]
        for other in spans[1:]:  # regrouped rules: the longest of the older spans
            if span is not None and other is not None and longer(span, other) > 0:
                span = other
        if span is not None:
            yield replace(klass, period=span[0], start=span[1]), group.members


def without_any(categories: Sequence[str]) -> Select[uuid.UUID]:
    """The people who hold nothing of ``categories`` (no value, and for payment no card)."""
    holds = [
        exists().where(
            PersonalValue.subject_id == Subject.id, PersonalValue.category.in_(categories)
        )
    ]
    if PAYMENT in categories:
        holds.append(exists().where(PaymentMethod.subject_id == Subject.id))
    return select(Subject.id).where(not_(or_(*holds)))


def unapplied(
    policy: Policy, klass: rules.ClassRule
) -> Iterator[tuple[rules.ClassRule, Select[uuid.UUID]]]:
    """An exception kept only for people with some data (``only_for_people_with``, e.g.
    invoice records only for people with payment information) keeps nothing of the others:
    for them its class ends with its own rule's period, like the rest of the rule's data."""
    if not klass.is_exception:
        return
    for rule in policy.retention:
        for exc in rule.exceptions:
            if exc.id == klass.retention_class and exc.only_for_people_with:
                ends = replace(klass, period=rule.period, start=rule.from_)
                yield ends, without_any(exc.only_for_people_with)


def _action(whole: bool) -> str:
    return "shred_and_delete" if whole else "delete"


def _card_classes(policy: Policy) -> tuple[str, str]:
    return (policy.retention_class(PAYMENT, "processor_token"),
            policy.retention_class(PAYMENT, "last4"))  # fmt: skip


def _has_data(klass: str, token_class: str, record_class: str) -> ColumnElement[bool]:
    """The person still has something under this class: a key, a value, a card part."""
    parts = [
        exists().where(DataKey.subject_id == Subject.id, DataKey.retention_class == klass),
        exists().where(
            PersonalValue.subject_id == Subject.id, PersonalValue.retention_class == klass
        ),
    ]
    if klass == token_class:
        parts.append(
            exists().where(PaymentMethod.subject_id == Subject.id, PaymentMethod.token != b"")
        )
    elif klass == record_class:
        parts.append(exists().where(PaymentMethod.subject_id == Subject.id))
    return or_(*parts)


def _sweep_people(env: Env, klass: rules.ClassRule, only: Select[uuid.UUID] | None = None) -> None:
    """Whole-person periods (after closure, after last activity): shred the class, delete.
    ``only``: the people to look at (None: everyone)."""
    token_class, record_class = _card_classes(env.policy)
    cutoff = event_rules.retention_cutoff(env.now, klass.period)
    start = (
        Subject.closed_at
        if klass.start is RetentionFrom.ACCOUNT_CLOSED
        else Subject.last_activity_at
    )
    after: uuid.UUID | None = None
    while True:
        with transaction(env.sessions) as session:
            query = (
                select(Subject.id, Subject.last_activity_at, Subject.closed_at)
                .where(start.isnot(None), start <= cutoff, Subject.status != "erased",
                       _has_data(klass.retention_class, token_class, record_class))
                .order_by(Subject.id).limit(rules.BATCH)
            )  # fmt: skip
            if after is not None:
                query = query.where(Subject.id > after)
            if only is not None:
                query = query.where(Subject.id.in_(only))
            batch = session.execute(query).all()
            if not batch:
                return
            holds = active_holds(session, env.now)
            for sid, last_activity, closed_at in batch:
                times = rules.PersonTimes(last_activity, closed_at)
                if rules.is_due(rules.person_start(times, klass.start), klass.period, env.now):
                    _expire_person(session, env, klass, sid, holds, whole=True)
            after = batch[-1][0]


def _sweep_collected(
    env: Env, klass: rules.ClassRule, only: Select[uuid.UUID] | None = None
) -> None:
    """``collected`` periods run per row: delete what outlived its period; shred the key once
    the person has nothing left under the class. ``only``: as in :func:`_sweep_people`."""
    token_class, record_class = _card_classes(env.policy)
    cutoff = event_rules.retention_cutoff(env.now, klass.period)
    old_value = exists().where(
        PersonalValue.subject_id == Subject.id,
        PersonalValue.retention_class == klass.retention_class,
        PersonalValue.updated_at <= cutoff,
    )
    due = [old_value]
    if klass.retention_class in (token_class, record_class):
        due.append(
            exists().where(
                PaymentMethod.subject_id == Subject.id, PaymentMethod.created_at <= cutoff
            )
        )
    after: uuid.UUID | None = None
    while True:
        with transaction(env.sessions) as session:
            query = select(Subject.id).where(Subject.status != "erased", or_(*due))
            if only is not None:
                query = query.where(Subject.id.in_(only))
            query = query.order_by(Subject.id).limit(rules.BATCH)
            if after is not None:
                query = query.where(Subject.id > after)
            batch = list(session.scalars(query))
            if not batch:
                return
            holds = active_holds(session, env.now)
            for sid in batch:
                _expire_person(session, env, klass, sid, holds, whole=False, cutoff=cutoff)
            after = batch[-1]


def _expire_person(
    session: Session, env: Env, klass: rules.ClassRule, sid: uuid.UUID,
    holds: list[rules.ActiveHold], *, whole: bool, cutoff: datetime | None = None,
) -> None:  # fmt: skip
    """Delete one person's due data of a class; shred its key unless a hold or a newer row
    keeps it. ``whole``: the period ran out for everything in the class at once."""
    token_class, record_class = _card_classes(env.policy)
    held = rules.held_categories(holds, str(sid)) & set(klass.categories)
    values = select(PersonalValue).where(
        PersonalValue.subject_id == sid, PersonalValue.retention_class == klass.retention_class
    )
    rows = list(session.scalars(values))
    due_rows = [r for r in rows if whole or (cutoff is not None and r.updated_at <= cutoff)]
    cards = list(session.scalars(select(PaymentMethod).where(PaymentMethod.subject_id == sid)))
    card_class = klass.retention_class in (token_class, record_class)
    due_cards = [
        c
        for c in cards
        if card_class and (whole or (cutoff is not None and c.created_at <= cutoff))
    ]
    gone: dict[str, int] = {}
    kept_rows = 0
    for row in due_rows:
        if row.category in held:
            kept_rows += 1
            continue
        gone[row.category] = gone.get(row.category, 0) + 1
        if not env.dry_run:
            session.delete(row)
    if due_cards and PAYMENT in held:
        kept_rows += len(due_cards)
    elif due_cards:
        for card in due_cards:
            if klass.retention_class == record_class:
                if not env.dry_run:
                    session.delete(card)
                gone[PAYMENT] = gone.get(PAYMENT, 0) + 1
            elif card.token != b"":
                if not env.dry_run:
                    card.token = b""  # its key is shredded below; the ciphertext goes too
                gone[PAYMENT] = gone.get(PAYMENT, 0) + 1
    left = len(rows) - sum(v for k, v in gone.items() if k != PAYMENT)
    cards_left = (
        card_class and klass.retention_class == record_class and len(cards) > len(due_cards)
    )
    shred = not held and left == 0 and not cards_left
    destroyed: list[str] = []
    if shred and not env.dry_run:
        destroyed = env.vault.shred(session, sid, [klass.retention_class], why="retention")
    elif shred:
        key = select(DataKey.retention_class).where(
            DataKey.subject_id == sid, DataKey.retention_class == klass.retention_class
        )
        destroyed = list(session.scalars(key))
    action = _action(whole)
    for category in klass.categories:
        line = env.report.line(category, klass.retention_class, action)
        if gone.get(category):
            line.deleted += gone[category]
            line.people += 1
        if category in held:
            note_held(line, rules.holding(holds, str(sid), [category]), str(sid), 0)
    if destroyed:
        env.report.line(klass.categories[0], klass.retention_class, action).shredded += 1
    if kept_rows:
        first_held = sorted(held)[0]
        env.report.line(first_held, klass.retention_class, action).held[
            rules.holding(holds, str(sid), [first_held])[0].id
        ].rows += kept_rows
    if (gone or destroyed) and not env.dry_run:
        audit_run(session, env, f"retention.{action}", sid, sorted(gone) or list(klass.categories))
    session.flush()
