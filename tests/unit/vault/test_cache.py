"""The in-memory cache of unwrapped data keys: bounded, exact, and forgetful on shred."""

from __future__ import annotations

import uuid

import pytest

from safehold.vault.service import DekCache

ADA, GRACE = uuid.uuid4(), uuid.uuid4()


def test_an_entry_answers_only_for_the_wrapped_bytes_it_came_from() -> None:
    cache = DekCache(4)
    cache.put((ADA, "standard"), b"wrapped-1", b"dek")
    assert cache.get((ADA, "standard"), b"wrapped-1") == b"dek"
    assert cache.get((ADA, "standard"), b"wrapped-2") is None  # re-wrapped or re-created
    assert cache.get((ADA, "tax"), b"wrapped-1") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = DekCache(2)
    cache.put((ADA, "a"), b"w", b"1")
    cache.put((ADA, "b"), b"w", b"2")
    assert cache.get((ADA, "a"), b"w") == b"1"  # now the most recent
    cache.put((ADA, "c"), b"w", b"3")
    assert len(cache) == 2
    assert cache.get((ADA, "b"), b"w") is None
    assert cache.get((ADA, "a"), b"w") == b"1"


def test_evicting_a_person_forgets_their_keys_only() -> None:
    cache = DekCache()
    for subject in (ADA, GRACE):
        for cls in ("standard", "tax"):
            cache.put((subject, cls), b"w", b"k")
    cache.evict(ADA, ["tax"])
    assert cache.get((ADA, "tax"), b"w") is None
    assert cache.get((ADA, "standard"), b"w") == b"k"
    cache.evict(ADA, None)
    assert cache.get((ADA, "standard"), b"w") is None
    assert len(cache) == 2


def test_a_zero_sized_cache_keeps_nothing_and_a_negative_one_is_refused() -> None:
    cache = DekCache(0)
    cache.put((ADA, "a"), b"w", b"k")
    assert len(cache) == 0
    with pytest.raises(ValueError, match="negative"):
        DekCache(-1)
