"""Retention promises, read off the tables: no event, IP address, login, device, personal
value or data key older than its period (plus the daily run's ``SWEEP_GRACE``),
except what a legal hold in force keeps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select, tuple_
from sqlalchemy.orm import Session

from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.ips import IpColumns
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY, NETWORK_CATEGORY
from safehold.notices.cohorts import held_under
from safehold.policy.document import RetentionFrom
from safehold.policy.rules import SWEEP_GRACE
from safehold.promises.rules import MAX_EXAMPLES, Check, Context, Finding
from safehold.retention import rules as retention_rules
from safehold.retention.classes import unapplied
from safehold.retention.common import active_holds
from safehold.subjects.models import PersonalValue, Subject
from safehold.vault.models import DataKey


def _cutoff(ctx: Context, period: str) -> datetime:
    """Data from this moment or before is past its period by more than the daily run's grace
    (:data:`safehold.policy.rules.SWEEP_GRACE`, which the rendered policy states)."""
    return event_rules.retention_cutoff(event_rules.retention_cutoff(ctx.now, SWEEP_GRACE), period)


def _held_pairs(ctx: Context, categories: set[str]) -> list[tuple[uuid.UUID, str]]:
    return [
        (uuid.UUID(h.subject_id), c)
        for h in active_holds(ctx.session, ctx.now)
        for c in h.categories & categories
    ]


def events_past_retention(ctx: Context) -> Finding:
    """Event months are dropped whole, so a month's rows of a category are due once its last
    day is past the category's period (what the rendered policy says)."""
    found = Finding()
    categories = sorted(events_jobs.stored_categories(ctx.policy))
    held = _held_pairs(ctx, set(categories))
    for month in storage.months(ctx.session):
        table = storage.month_table(event_rules.partition_name(month))
        month_end = event_rules.month_bounds(month)[1]
        for category in categories:
            period = ctx.policy.retention_rule_for(category).period
            if month_end > _cutoff(ctx, period):
                continue
            query = select(table.c.event_id).where(table.c.category == category)
            if held:
                query = query.where(
                    not_(tuple_(table.c.subject_id, table.c.category).in_(held))
                    | table.c.subject_id.is_(None)
                )
            _count_into(ctx.session, found, query)
    return found


def _ip_overdue(columns: IpColumns, time: Any, ctx: Context) -> ColumnElement[bool]:
    """A shortened address past the network period, or a whole one past the full period
    (plain or sealed: ``events.ips``)."""
    prefix = _cutoff(ctx, ctx.policy.retention_rule_for(NETWORK_CATEGORY).period)
    full = ctx.policy.events.ip.full
    whole = _cutoff(ctx, full.period) if full is not None else prefix
    return or_(
        and_(columns.prefix(), time <= prefix),
        and_(columns.whole(), time <= whole),
    )


def ips_past_retention(ctx: Context) -> Finding:
    """Everyone's addresses by the version in force; then the people still handled under an
    older version that keeps shortened addresses for less time, by that version's period."""
    found = Finding()
    for month in storage.months(ctx.session):
        table = storage.month_table(event_rules.partition_name(month))
        overdue = _ip_overdue(IpColumns.of(table), table.c.occurred_at, ctx)
        query = select(table.c.event_id).where(overdue)
        _count_into(ctx.session, found, query)
    _count_into(
        ctx.session,
        found,
        select(Login.id).where(_ip_overdue(IpColumns.logins(), Login.logged_in_at, ctx)),
    )
    everyone = _cutoff(ctx, ctx.policy.retention_rule_for(NETWORK_CATEGORY).period)
    for group in held_under(ctx.book, ctx.now):
        if NETWORK_CATEGORY not in group.spans:
            continue
        # Only what the version in force has not already counted: between its cutoff and
        # the group's later one (a shorter period ends sooner).
        cutoff = _cutoff(ctx, group.spans[NETWORK_CATEGORY][0])
        for month in storage.months(ctx.session):
            table = storage.month_table(event_rules.partition_name(month))
            query = select(table.c.event_id).where(
                IpColumns.of(table).prefix(), table.c.occurred_at <= cutoff,
                table.c.occurred_at > everyone, table.c.subject_id.in_(group.members),
            )  # fmt: skip
            _count_into(ctx.session, found, query)
        query = select(Login.id).where(
            IpColumns.logins().prefix(), Login.logged_in_at <= cutoff,
            Login.logged_in_at > everyone,
            Login.subject_id.in_(group.members),
        )  # fmt: skip
        _count_into(ctx.session, found, query)
    return found


def usage_rows_past_retention(ctx: Context) -> Finding:
    """Sign-ins and devices, each under its own category's rule."""
    found = Finding()
    policy = ctx.policy
    login_category = policy.events.category_of(policy.events.login_event) or "usage.login"
    for model, category in ((Login, login_category), (SubjectDevice, DEVICE_CATEGORY)):
        rule = policy.retention_rule_for(category)
        time: Any
        if model is Login:
            time = Login.logged_in_at if rule.from_ is RetentionFrom.COLLECTED else (
                func.coalesce(Login.logged_out_at, Login.logged_in_at))  # fmt: skip
        else:
            time = SubjectDevice.first_seen_at if rule.from_ is RetentionFrom.COLLECTED else (
                SubjectDevice.last_seen_at)  # fmt: skip
        held = {s for s, _ in _held_pairs(ctx, {category})}
        query = select(model.id).where(time <= _cutoff(ctx, rule.period))
        if held:
            query = query.where(model.subject_id.not_in(held))
        _count_into(ctx.session, found, query)
    return found


def values_past_retention(ctx: Context) -> Finding:
    """Personal values and data keys: a ``collected`` class row by row; a whole-person class
    (after closure, after last activity) for people whose period ended; an exception kept
    only for people with some data (``only_for_people_with``) by its own rule's period for
    the others. Erased people's data is the erasure check's business; a value a hold keeps is
    not overdue."""
    found = Finding()
    for base in retention_rules.class_rules(ctx.policy):
        for klass, only in ((base, None), *unapplied(ctx.policy, base)):
            _class_overdue(ctx, found, klass, only)
    return found


def _class_overdue(
    ctx: Context, found: Finding, klass: retention_rules.ClassRule, only: Select[Any] | None
) -> None:
    cutoff = _cutoff(ctx, klass.period)
    held = _held_pairs(ctx, set(klass.categories))
    not_held = (
        not_(tuple_(PersonalValue.subject_id, PersonalValue.category).in_(held))
        if held else PersonalValue.subject_id.isnot(None)
    )  # fmt: skip
    of_class = PersonalValue.retention_class == klass.retention_class
    if klass.start is RetentionFrom.COLLECTED:
        query = select(PersonalValue.subject_id).where(
            of_class, PersonalValue.updated_at <= cutoff, not_held
        )
        if only is not None:
            query = query.where(PersonalValue.subject_id.in_(only))
        _count_into(ctx.session, found, query)
        return
    start = (
        Subject.closed_at if klass.start is RetentionFrom.ACCOUNT_CLOSED
        else Subject.last_activity_at
    )  # fmt: skip
    held_people = {s for s, _ in held}
    has_data = or_(
        exists().where(PersonalValue.subject_id == Subject.id, of_class, not_held),
        exists().where(
            DataKey.subject_id == Subject.id, DataKey.retention_class == klass.retention_class
        ),
    )
    query = select(Subject.id).where(
        Subject.status != "erased", start.isnot(None), start <= cutoff, has_data
    )
    if held_people:
        query = query.where(Subject.id.not_in(held_people))
    if only is not None:
        query = query.where(Subject.id.in_(only))
    _count_into(ctx.session, found, query)


def _count_into(session: Session, found: Finding, query: Select[Any]) -> None:
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(session.scalars(query.limit(MAX_EXAMPLES)), count)


CHECKS = (
    Check("retention.events",
          "Usage events are deleted when their retention period ends (a whole calendar month "
          "at a time).", events_past_retention),
    Check("retention.ip_addresses",
          "IP addresses, shortened or whole, are cleared when their period ends.",
          ips_past_retention),
    Check("retention.logins_and_devices",
          "Login history and device records are deleted when their period ends.",
          usage_rows_past_retention),
    Check("retention.values_and_keys",
          "Account data and its encryption keys are deleted when their period ends.",
          values_past_retention),
)  # fmt: skip
