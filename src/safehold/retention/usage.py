"""Sweep 3 of the retention run: login history and devices past their periods, deleted in
batches (rows of people under a hold on the category stay, and are reported)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select

from safehold.db import transaction
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
    login_time = Login.logged_in_at if logins.from_ is RetentionFrom.COLLECTED else func.coalesce(
        Login.logged_out_at, Login.logged_in_at)  # fmt: skip
    device_time = SubjectDevice.first_seen_at if devices.from_ is RetentionFrom.COLLECTED else (
        SubjectDevice.last_seen_at)  # fmt: skip
    _sweep_rows(env, Login, login_time, login_category, logins.id, logins.period)
    _sweep_rows(env, SubjectDevice, device_time, DEVICE_CATEGORY, devices.id, devices.period)


def _sweep_rows(
    env: Env, model: type[Login] | type[SubjectDevice], time: ColumnElement[datetime] | Any,
    category: str, retention_class: str, period: str,
) -> None:  # fmt: skip
    line = env.report.line(category, retention_class, "delete")
    cutoff = event_rules.retention_cutoff(env.now, period)
    with env.sessions() as session:
        holds = [h for h in active_holds(session, env.now) if category in h.categories]
    held_ids = sorted({uuid.UUID(h.subject_id) for h in holds})
    due = select(model.id, model.subject_id).where(time <= cutoff)
    with env.sessions() as session:
        for sid, n in session.execute(
            select(model.subject_id, func.count())
            .where(time <= cutoff, model.subject_id.in_(held_ids))
            .group_by(model.subject_id)
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
            session.execute(delete(model).where(model.id.in_([row[0] for row in batch])))
            line.deleted += len(batch)
            people |= {row[1] for row in batch}
            audit_run(session, env, "retention.delete", None, [category])
    line.people += len(people)
