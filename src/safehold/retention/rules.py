"""Pure rules for retention: legal holds, and which data is due for deletion at a time T.

No FastAPI, no SQLAlchemy: the retention run, the CLI and the tests all ask these functions.
Periods are calendar durations counted with :func:`safehold.policy.rules.add_duration`
(months clamp to the month's end: 31 January + P1M = 28/29 February).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from safehold.policy.document import Policy, RetentionAction, RetentionFrom
from safehold.policy.rules import add_duration

MAX_TEXT = 2_000  # reason and legal basis: a sentence or two, not a file
BATCH = 500  # people (or rows) handled per transaction by the retention run


def is_active(lifted_at: datetime | None, until: datetime, now: datetime) -> bool:
    """A hold protects data until it is lifted or its end passes."""
    return lifted_at is None and now < until


def unknown_categories(categories: Iterable[str], declared: Iterable[str]) -> list[str]:
    known = set(declared)
    return sorted({c for c in categories if c not in known})


# --- retention windows --------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRule:
    """One retention class (a rule, or an exception that keeps part of it longer): the
    categories stored under it, its period, where the period starts, what happens at its end."""

    retention_class: str
    categories: tuple[str, ...]
    period: str
    start: RetentionFrom
    action: RetentionAction
    is_exception: bool


def class_rules(policy: Policy) -> tuple[ClassRule, ...]:
    """Every retention class of the policy, rules first then their exceptions."""
    found: list[ClassRule] = []
    for rule in policy.retention:
        found.append(
            ClassRule(rule.id, rule.categories, rule.period, rule.from_, rule.action, False)
        )
        for exc in rule.exceptions:
            found.append(
                ClassRule(exc.id, exc.categories or rule.categories, exc.period, exc.from_,
                          RetentionAction.DELETE, True)
            )  # fmt: skip
    return tuple(found)


def ends_at(start: datetime, period: str) -> datetime:
    """When data whose period started at ``start`` must be gone."""
    return add_duration(start, period)


def is_due(start: datetime | None, period: str, now: datetime) -> bool:
    """Data is due for deletion once its whole period has passed; never without a start (an
    account that is not closed has no "after closure" period running)."""
    return start is not None and ends_at(start, period) <= now


@dataclass(frozen=True)
class PersonTimes:
    """The moments a person's periods can start from (``closed_at`` None: still open)."""

    last_activity: datetime
    closed_at: datetime | None


def person_start(times: PersonTimes, start: RetentionFrom) -> datetime | None:
    """The start of a whole-person period (``collected`` is per row: None here)."""
    if start is RetentionFrom.ACCOUNT_CLOSED:
        return times.closed_at
    if start is RetentionFrom.LAST_ACTIVITY:
        return times.last_activity
    return None


@dataclass(frozen=True)
class ActiveHold:
    id: str
    subject_id: str
    categories: frozenset[str]
    reason: str
    legal_basis: str
    until: datetime


def holding(
    holds: Iterable[ActiveHold], subject_id: str, categories: Iterable[str]
) -> list[ActiveHold]:
    """The holds in force for this person that name any of ``categories``."""
    wanted = set(categories)
    return [h for h in holds if h.subject_id == subject_id and h.categories & wanted]


def held_categories(holds: Iterable[ActiveHold], subject_id: str) -> frozenset[str]:
    return frozenset().union(*(h.categories for h in holds if h.subject_id == subject_id))
