"""The worker's analytics job: roll up the days that need it, a bounded number per round.

Safe to re-run: building a day replaces its rows. A day is rebuilt at most hourly while its
own events come in, once more when its grace period has passed (then it is final), and
after that only to take in late events (``late.py``), which reopen it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session

from safehold.analytics import rules, service
from safehold.db import transaction
from safehold.runtime import Runtime

DAYS_PER_ROUND = 31  # one month's scan at most per transaction
POLL_SECONDS = 60.0  # when nothing was due (a check is two small queries)


def grace(runtime: Runtime) -> timedelta:
    """The configured grace period (``SAFEHOLD_ANALYTICS_GRACE_DAYS``)."""
    return timedelta(days=runtime.settings.analytics_grace_days)


def context(runtime: Runtime) -> service.Context:
    key = rules.person_key(runtime.vault.provider.index_key())
    return service.Context(runtime.policy, runtime.clock, key, grace(runtime))


def run(runtime: Runtime) -> int:
    """Build up to ``DAYS_PER_ROUND`` pending days; returns the days built (0: idle)."""
    with transaction(runtime.sessions) as session:
        return service.build_pending(
            session, context(runtime), max_days=DAYS_PER_ROUND, now=runtime.clock.now()
        )


def before_drop(runtime: Runtime) -> Callable[[Session, date], None]:
    """What the retention run passes as ``before_drop``: aggregate a month, then it may go."""
    ctx = context(runtime)

    def roll_up(session: Session, month: date) -> None:
        service.rollup_month(session, ctx, month)

    return roll_up
