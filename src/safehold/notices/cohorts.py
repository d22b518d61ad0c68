"""The people still handled under an older version, as groups batch work runs over.

Retention runs over everyone, so it asks once per run — not per person — which versions
people are still handled under (one group per material version in force, see
:func:`rules.cohorts`), what each such version keeps for a shorter time than the version in
force, and a query selecting the group's members to narrow a sweep to them (decision 0022).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from safehold.notices import rules
from safehold.notices.book import PolicyBook
from safehold.policy.diff import Span
from safehold.subjects.models import Subject
from safehold.subjects.state import ACCEPTED_SEQ


@dataclass(frozen=True)
class HeldUnder:
    """People handled under version ``label``: per category, the shorter span it keeps."""

    label: str
    spans: Mapping[str, Span]
    members: Select[uuid.UUID]


def members(cohort: rules.Cohort) -> Select[uuid.UUID]:
    """The ids of the people whose newest accepted version is in ``[lo, hi)``."""
    accepted = func.coalesce(ACCEPTED_SEQ, 0)
    return select(Subject.id).where(accepted >= cohort.lo, accepted < cohort.hi)


def held_under(book: PolicyBook, now: datetime) -> tuple[HeldUnder, ...]:
    """The groups that keep some category for a shorter time than the version in force."""
    current = book.in_force(now)
    if current is None:
        return ()
    found = []
    for cohort in rules.cohorts(book.facts(), now):
        baseline = book.version(cohort.baseline)
        if baseline is None:
            continue
        spans = rules.shorter_spans(baseline.policy, current.policy)
        if spans:
            found.append(HeldUnder(f"v{cohort.baseline}", spans, members(cohort)))
    return tuple(found)
