"""Sweep 3 of the retention run: login history and devices past their periods, deleted in
batches (rows of people under a hold on the category stay, and are reported). People still
handled under a version with a shorter period for them are swept with that one too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select

from safehold.db import transaction
from safehold.events import people as people_events
from safehold.events import rules as event_rules
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY
from safehold.policy.document import RetentionFrom
from safehold.retention import rules
from safehold.retention.common import (
    Env,
    active_holds,
    audit_run,
    count_rows,
    note_held,
)


def sweep_usage_tables(env: Env) -> None:
    policy = env.policy
    login_category = policy.events.category_of(policy.events.login_event) or "usage.login"
    logins = policy.retention_rule_for(login_category)
    devices = policy.retention_rule_for(DEVICE_CATEGORY)
    for category, model, rule_id, span in (
        (login_category, Login, logins.id, (logins.period, logins.from_)),
        (DEVICE_CATEGORY, SubjectDevice, devices.id, (devices.period, devices.from_)),
    ):
        spans = [(span, None)] + [
            (group.spans[category], group.members) for group in env.held if category in group.spans
        ]
        for (period, start), only in spans:
            time = _time_of(model, start)
            _sweep_rows(env, model, time, category, rule_id, period, only)


def _time_of(model: type[Login] | type[SubjectDevice], start: RetentionFrom) -> Any:
    """The column a period counts from: when collected, or the latest use."""
    if model is Login:
        return Login.logged_in_at if start is RetentionFrom.COLLECTED else func.coalesce(
            Login.logged_out_at, Login.logged_in_at)  # fmt: skip
    return SubjectDevice.first_seen_at if start is RetentionFrom.COLLECTED else (
        SubjectDevice.last_seen_at)  # fmt: skip


def _sweep_rows(
    env: Env, model: type[Login] | type[SubjectDevice], time: ColumnElement[datetime] | Any,
    category: str, retention_class: str, period: str, only: Select[uuid.UUID] | None = None,
) -> None:  # fmt: skip
    """Delete the rows past ``period``, of ``only`` these people (None: everyone's)."""
    line = env.report.line(category, retention_class, "delete")
    cutoff = event_rules.retention_cutoff(env.now, period)
    with env.sessions() as session:
        holds = [h for h in active_holds(session, env.now) if category in h.categories]
    held_ids = sorted({uuid.UUID(h.subject_id) for h in holds})
    due = select(model.id, model.subject_id).where(time <= cutoff)
    if only is not None:
        due = due.where(model.subject_id.in_(only))
    with env.sessions() as session:  # held rows are reported once, by the pass for everyone
        for sid, n in (
            ()
            if only is not None
            else session.execute(
                select(model.subject_id, func.count())
                .where(time <= cutoff, model.subject_id.in_(held_ids))
                .group_by(model.subject_id)
            )
        ):
            note_held(line, rules.holding(holds, str(sid), [category]), str(sid), int(n))
    free = due.where(model.subject_id.not_in(held_ids)) if held_ids else due
    if env.dry_run:
        with env.sessions() as session:
            line.deleted += count_rows(session, free)
            whose = free.with_only_columns(model.subject_id).distinct()
            line.people += count_rows(session, whose)
        return
    people: set[uuid.UUID] = set()
    while True:
        with transaction(env.sessions) as session:
            batch = session.execute(free.order_by(model.id).limit(rules.BATCH)).all()
            if not batch:
                break
            if model is SubjectDevice:  # logins keep their time, lose the device
                people_events.forget_devices(session, [(row[1], row[0]) for row in batch])
            else:
                session.execute(delete(model).where(model.id.in_([row[0] for row in batch])))
            line.deleted += len(batch)
            people |= {row[1] for row in batch}
            audit_run(session, env, "retention.delete", None, [category])
    line.people += len(people)
