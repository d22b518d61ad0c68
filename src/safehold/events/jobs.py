"""Batch work on stored events, each safe to re-run and each one transaction:

* :func:`ensure_ahead` — partitions for this month and the next ones, before they are needed
  (ingestion also creates them on demand, and always keeps next month's ready);
* :func:`expire_ips` — addresses, sealed or (before migration 0043) plain: shortened ones
  after the ``network.ip`` period, whole addresses
  (``events.ip.mode: full``) after their own shorter period, cleared up to the next round
  ahead (``rules.IP_EXPIRY_AHEAD``); ingestion applies the same rule (``rules.IpExpiry``);
  for people still handled under a version with a shorter ``network.ip`` period (a
  material change they have not accepted, decision 0022), after that one;
* :func:`drop_expired_months` — a whole month at once when its events are past retention;
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session, sessionmaker

from safehold.db import transaction
from safehold.events import rules, storage
from safehold.events.ips import NO_IP, IpColumns
from safehold.events.models import Login
from safehold.notices.cohorts import HeldUnder, held_under
from safehold.policy import Policy
from safehold.policy.document import ACTION_CATEGORY
from safehold.runtime import Runtime

MONTHS_AHEAD = 2  # partitions kept ready beyond the current month
NETWORK_CATEGORY = "network.ip"


def ensure_ahead(
    sessions: sessionmaker[Session], now: datetime, ahead: int = MONTHS_AHEAD
) -> list[date]:
    """Create this month's partition and the next ``ahead`` ones; returns those created."""
    with transaction(sessions) as session:
        return storage.ensure_months(session, rules.months_ahead(now, ahead), now)


def _shape(columns: IpColumns, *, whole: bool) -> ColumnElement[bool]:
    """Whole addresses have no "/" (or are marked whole when sealed); shortened ones are
    networks ("203.0.113.0/24")."""
    return columns.whole() if whole else columns.prefix()


def expire_ips(
    session: Session, policy: Policy, now: datetime, held: Sequence[HeldUnder] = ()
) -> int:
    """Clear addresses past their period, in events and in the login history: whatever
    ``rules.IpExpiry.of(policy, now).keep`` would drop (ingestion never stores those); for
    the people of each ``held`` group with a shorter ``network.ip`` period, past that one too
    (with the same look-ahead)."""
    expiry = rules.IpExpiry.of(policy, now)
    cleared = 0
    for cutoff, whole in ((expiry.prefix_cutoff, False), (expiry.whole_cutoff, True)):
        cleared += storage.for_each_month(
            session,
            lambda t, cutoff=cutoff, whole=whole: (
                update(t)  # type: ignore[misc]
                .where(_shape(IpColumns.of(t), whole=whole), t.c.occurred_at <= cutoff)
                .values(NO_IP)
            ),
        )
        result = session.execute(
            update(Login)
            .where(_shape(IpColumns.logins(), whole=whole), Login.logged_in_at <= cutoff)
            .values(NO_IP)
        )
        cleared += int(getattr(result, "rowcount", 0))
    for group in held:
        span = group.spans.get(NETWORK_CATEGORY)
        if span is not None:
            cutoff = rules.IpExpiry.at(now, span[0], None).prefix_cutoff
            cleared += _expire_group_ips(session, cutoff, group)
    return cleared


def _expire_group_ips(session: Session, cutoff: datetime, group: HeldUnder) -> int:
    """Clear every address of the group's people collected at or before ``cutoff``."""
    cleared = storage.for_each_month(
        session,
        lambda t: (
            update(t)
            .where(
                IpColumns.of(t).stored(),
                t.c.occurred_at <= cutoff,
                t.c.subject_id.in_(group.members),
            )
            .values(NO_IP)
        ),
    )
    result = session.execute(
        update(Login)
        .where(
            IpColumns.logins().stored(),
            Login.logged_in_at <= cutoff,
            Login.subject_id.in_(group.members),
        )
        .values(NO_IP)
    )
    return cleared + int(getattr(result, "rowcount", 0))


def stored_categories(policy: Policy) -> set[str]:
    """The categories whose events live in the month partitions (all but sign-ins)."""
    events = policy.events
    signs_in = {events.category_of(events.login_event), events.category_of(events.logout_event)}
    if events.names:
        return {k.category for k in events.names} - signs_in
    return {ACTION_CATEGORY}


def drop_expired_months(
    session: Session, policy: Policy, now: datetime,
    before_drop: Callable[[Session, date], None] | None = None,
) -> list[date]:  # fmt: skip
    """Drop every month whose events are all past retention (the longest period of the
    categories stored there). ``before_drop`` runs first for each month — where an
    ``aggregate_then_delete`` rule's aggregates are computed."""
    periods = [policy.retention_rule_for(c).period for c in sorted(stored_categories(policy))]
    if not periods:
        return []
    expired = set(rules.expired_months(storage.months(session), now, periods[0]))
    for period in periods[1:]:
        expired &= set(rules.expired_months(storage.months(session), now, period))
    dropped = []
    for month in sorted(expired):
        if before_drop is not None:
            before_drop(session, month)
        if storage.drop_month(session, month):
            dropped.append(month)
    return dropped


MAINTENANCE_SECONDS = 3600.0  # the worker's events job runs hourly when it finds nothing


def maintain(runtime: Runtime) -> int:
    """The worker's events job: partitions ahead, expired addresses.

    Dropping whole expired months is left to the retention run, which must feed the
    analytics aggregates first for categories whose rule says "aggregate then delete"."""
    now = runtime.clock.now()
    policy = runtime.policy
    created = ensure_ahead(runtime.sessions, now)
    with transaction(runtime.sessions) as session:
        expired = expire_ips(session, policy, now, held_under(runtime.book, now))
    return len(created) + expired
