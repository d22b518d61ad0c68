"""Start-up's heap is frozen out of the collector's walks (decision 0046)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from safehold import heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settle_freezes_what_is_alive_and_frees_start_up_cycles() -> None:
    class Node:
        other: object = None

    kept = Node()
    garbage_a, garbage_b = Node(), Node()
    garbage_a.other, garbage_b.other = garbage_b, garbage_a  # a cycle only gc can free
    gone = weakref.ref(garbage_a)
    del garbage_a, garbage_b
    frozen = heap.settle()
    assert gone() is None  # collected before the freeze, not frozen with the rest
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # frozen: no collection walks it
    assert kept.other is None


def test_settle_without_collecting_only_freezes() -> None:
    assert heap.settle(collect=False) > 0
    assert gc.get_objects(generation=2) == []
