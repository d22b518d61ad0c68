"""Pure rules for legal holds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

MAX_TEXT = 2_000  # reason and legal basis: a sentence or two, not a file


def is_active(lifted_at: datetime | None, until: datetime, now: datetime) -> bool:
    """A hold protects data until it is lifted or its end passes."""
    return lifted_at is None and now < until


def unknown_categories(categories: Iterable[str], declared: Iterable[str]) -> list[str]:
    known = set(declared)
    return sorted({c for c in categories if c not in known})
