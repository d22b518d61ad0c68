"""The month-key promise (decision 0043), read off the tables and the key provider: the
encrypted details of the categories the rendered policy names
(:func:`safehold.policy.capabilities.sealed_by_month`) are sealed under their month's key, and
no month key outlives its period (plus the daily run's ``SWEEP_GRACE``) — neither a data key
wrapped by it in the database nor the key itself with the provider."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.ips import IpColumns
from safehold.events.models import Login
from safehold.policy.capabilities import NETWORK_IP, sealed_by_month
from safehold.policy.rules import SWEEP_GRACE
from safehold.promises.rules import Check, Context, Finding
from safehold.vault import epochs
from safehold.vault.models import DataKey

NOT_DESTROYABLE = "the key provider cannot destroy a month's key (SAFEHOLD_KEK)"


def month_keys(ctx: Context) -> Finding:
    found = Finding()
    categories = sealed_by_month(ctx.policy)
    if not categories:
        return found
    if ctx.keys is not None and not ctx.keys.destroys_epochs():
        found.add([NOT_DESTROYABLE])
        found.notes.append(NOT_DESTROYABLE)
    # Details sealed under a person's ordinary key: readable in backups until they go.
    addresses = NETWORK_IP in categories
    for month in storage.months(ctx.session):
        table = storage.month_table(event_rules.partition_name(month))
        query = select(table.c.event_id).where(
            table.c.category.in_(categories),
            table.c.personal.isnot(None),
            table.c.retention_class.not_like(f"%{epochs.MARK}%"),
        )
        _count(ctx, found, query)
        if addresses:
            _count(ctx, found, select(table.c.event_id).where(_unsealed(IpColumns.of(table))))
    if addresses:
        _count(ctx, found, select(Login.id).where(_unsealed(IpColumns.logins())))
    # Month keys past their end: data keys wrapped by one, or the key itself still held.
    due = event_rules.retention_cutoff(ctx.now, SWEEP_GRACE)
    counted = select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)
    for version, count in ctx.session.execute(
        counted.where(DataKey.kek_version.contains(epochs.MARK))
    ):
        end = epochs.end_of(ctx.policy, version)
        if end is not None and end <= due:
            found.add([version], int(count))
    for epoch in ctx.keys.epochs() if ctx.keys is not None else []:
        end = epochs.end_of(ctx.policy, epoch)
        if end is not None and end <= due:
            found.add([epoch])
    return found


def _count(ctx: Context, found: Finding, query: Select[Any]) -> None:
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.limit(5)), count)


def _unsealed(columns: IpColumns) -> ColumnElement[bool]:
    """An address kept plain (stored before migration 0043, or anonymous), or sealed under
    an ordinary key rather than its month's: readable in backups past its month's end."""
    return or_(
        columns.plain.isnot(None),
        and_(columns.sealed.isnot(None), columns.klass.not_like(f"%{epochs.MARK}%")),
    )


CHECKS = (
    Check("retention.month_keys",
          "The encrypted details of usage data counted from collection, and known people's IP "
          "addresses (no one else's are kept), are sealed with a key for their month, "
          "destroyed when the month's period ends, so they become unreadable in backups too.",
          month_keys),
)  # fmt: skip
