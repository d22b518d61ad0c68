"""Sweep 1 of the retention run: expired event months, dropped whole (after the roll-up for
``aggregate_then_delete``), or trimmed around rows under a legal hold; and the rows of people
still handled under a version with a shorter period, deleted row by row after that one."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Delete, Table, delete, func, select, tuple_
from sqlalchemy.orm import Session

from safehold.db import transaction
from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.notices.cohorts import HeldUnder
from safehold.policy.document import RetentionAction, RetentionRule
from safehold.retention import rules
from safehold.retention.common import (
    BeforeDrop,
    Env,
    active_holds,
    audit_run,
    note_held,
)
from safehold.retention.report import Line


def sweep_event_months(env: Env, before_drop: BeforeDrop | None) -> None:
    policy = env.policy
    categories = sorted(events_jobs.stored_categories(policy))
    if not categories:
        return
    by_rule = {c: policy.retention_rule_for(c) for c in categories}
    aggregate = [
        c for c in categories if by_rule[c].action is RetentionAction.AGGREGATE_THEN_DELETE
    ]
    with env.sessions() as session:
        months = storage.months(session)
    expired = set(months)
    for category in categories:
        expired &= set(event_rules.expired_months(months, env.now, by_rule[category].period))
    lines = [env.report.line(c, by_rule[c].id, "drop_months") for c in categories]
    waiting = set(aggregate) if before_drop is None else set()  # no roll-up: nothing goes
    for group in env.held:
        for category in categories:
            if category in group.spans and category not in waiting:
                _trim_group(env, group, category, by_rule[category])
    if aggregate and before_drop is None:
        for line in lines:
            if expired and line.category in aggregate:
                line.notes.append(
                    f"{len(expired)} expired month(s) kept: the rule says aggregate then delete "
                    "and no analytics roll-up is available"
                )
        return
    for month in sorted(expired):
        with transaction(env.sessions) as session:
            _one_month(session, env, month, categories, lines, before_drop if aggregate else None)


def _one_month(
    session: Session, env: Env, month: date, categories: list[str], lines: list[Line],
    before_drop: BeforeDrop | None,
) -> None:  # fmt: skip
    table = storage.month_table(event_rules.partition_name(month))
    holds = [h for h in active_holds(session, env.now) if h.categories & set(categories)]
    held_pairs = [
        (uuid.UUID(h.subject_id), c) for h in holds for c in h.categories & set(categories)
    ]
    is_held = tuple_(table.c.subject_id, table.c.category).in_(held_pairs) if held_pairs else None
    per_category: dict[str, int] = dict(
        session.execute(select(table.c.category, func.count()).group_by(table.c.category)).all()
    )
    held_rows: dict[tuple[str, str], int] = {}
    if is_held is not None:
        for sid, category, n in session.execute(
            select(table.c.subject_id, table.c.category, func.count())
            .where(is_held)
            .group_by(table.c.subject_id, table.c.category)
        ):
            held_rows[(str(sid), category)] = int(n)
    for line in lines:
        total = int(per_category.get(line.category, 0))
        kept = 0
        for (sid, category), n in held_rows.items():
            if category == line.category:
                kept += n
                note_held(line, rules.holding(holds, sid, [category]), sid, n)
        line.deleted += total - kept
        if not held_rows:
            line.months.append(month.isoformat()[:7])
        if kept:
            line.notes.append(f"{month.isoformat()[:7]}: month kept for rows under a legal hold")
    freed = sum(per_category.values()) - sum(held_rows.values())
    if env.dry_run or (held_rows and not freed):
        return  # nothing to change (a held month already trimmed: no second roll-up)
    if before_drop is not None:
        before_drop(session, month)
    if is_held is None or not held_rows:
        storage.drop_month(session, month)
        action = "retention.events.drop_month"
    else:  # rows under a hold stay (the month with them) until the hold ends
        session.execute(delete(table).where(~is_held))
        action = "retention.events.delete_unheld"
    audit_run(session, env, action, None, categories)


def _trim_group(env: Env, group: HeldUnder, category: str, rule: RetentionRule) -> None:
    """Delete the group's rows of ``category`` past the group's shorter period, in every month
    (rows of a person under a hold on the category stay)."""
    line = env.report.line(category, rule.id, "drop_months")
    cutoff = event_rules.retention_cutoff(env.now, group.spans[category][0])
    if env.dry_run:
        line.notes.append(f"people handled under {group.label}: rows past its period go")
        return
    with transaction(env.sessions) as session:
        held = sorted(
            {uuid.UUID(h.subject_id) for h in active_holds(session, env.now)
             if category in h.categories}
        )  # fmt: skip

        def build(table: Table) -> Delete:
            query = delete(table).where(
                table.c.category == category,
                table.c.occurred_at <= cutoff,
                table.c.subject_id.in_(group.members),
            )
            return query.where(table.c.subject_id.not_in(held)) if held else query

        gone = storage.for_each_month(session, build)
        if gone:
            line.deleted += gone
            line.notes.append(f"{gone} row(s) of people handled under {group.label} deleted")
            audit_run(session, env, "retention.events.delete_held_under", None, [category])
