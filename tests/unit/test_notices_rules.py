"""Acceptance by continued use, explicit acceptance of material changes, and classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.notices import rules
from safehold.notices.rules import MATERIAL, MINOR, VersionFacts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def history(classes: list[str]) -> list[VersionFacts]:
    return [
        VersionFacts(
            i + 1, c, T0 + timedelta(days=10 * i), ("new.purpose",) if c == MATERIAL else ()
        )
        for i, c in enumerate(classes)
    ]


def test_minor_changes_are_accepted_by_continued_use() -> None:
    versions = history([MINOR, MINOR, MINOR])
    outcome = rules.on_activity(versions, 1, T0 + timedelta(days=30), minor_by_use=True)
    assert outcome == rules.ActivityOutcome(accepted=3, notified=())


def test_a_material_change_is_only_notified_and_blocks_later_minors() -> None:
    versions = history([MINOR, MINOR, MATERIAL, MINOR])
    outcome = rules.on_activity(versions, 1, T0 + timedelta(days=40), minor_by_use=True)
    assert outcome.accepted == 2
    assert outcome.notified == (3,)


def test_versions_not_yet_in_force_are_ignored() -> None:
    versions = history([MINOR, MINOR])
    assert (
        rules.on_activity(versions, 1, T0 + timedelta(days=5), minor_by_use=True).accepted is None
    )


def test_without_continued_use_nothing_is_accepted() -> None:
    outcome = rules.on_activity(
        history([MINOR, MINOR]), 1, T0 + timedelta(days=20), minor_by_use=False
    )
    assert outcome.accepted is None


@given(st.lists(st.sampled_from([MINOR, MATERIAL]), min_size=1, max_size=12), st.integers(0, 12))
def test_continued_use_never_accepts_past_a_material_change(classes: list[str], seen: int) -> None:
    versions = history(classes)
    now = T0 + timedelta(days=1000)
    outcome = rules.on_activity(versions, seen, now, minor_by_use=True)
    first_material = next(
        (v.seq for v in versions if v.seq > seen and v.change_class == MATERIAL), None
    )
    if outcome.accepted is not None:
        assert outcome.accepted > seen
        assert first_material is None or outcome.accepted < first_material
    assert all(versions[s - 1].change_class == MATERIAL for s in outcome.notified)
    pending = rules.pending_purposes(versions, seen, now)
    assert (pending == frozenset()) == (first_material is None)


def test_pending_purposes_clear_once_the_material_version_is_accepted() -> None:
    versions = history([MINOR, MATERIAL])
    now = T0 + timedelta(days=20)
    assert rules.pending_purposes(versions, 1, now) == {"new.purpose"}
    assert rules.pending_purposes(versions, 2, now) == frozenset()
    assert rules.pending_purposes(versions, 1, T0 + timedelta(days=5)) == frozenset()


def test_the_class_can_be_raised_never_lowered() -> None:
    assert rules.final_class(MINOR, None) == MINOR
    assert rules.final_class(MINOR, MATERIAL) == MATERIAL
    assert rules.final_class(MATERIAL, MATERIAL) == MATERIAL
    with pytest.raises(rules.ClassLowered):
        rules.final_class(MATERIAL, MINOR)


def test_in_force_is_the_newest_version_already_effective() -> None:
    versions = history([MINOR, MATERIAL, MINOR])
    assert rules.in_force(versions, T0 - timedelta(days=1)) is None
    found = rules.in_force(versions, T0 + timedelta(days=15))
    assert found is not None
    assert found.seq == 2


def test_text_diff_marks_changed_lines() -> None:
    diff = rules.text_diff("a\nb\nc", "a\nB\nc", "v1", "v2")
    assert "-b" in diff.splitlines()
    assert "+B" in diff.splitlines()
