"""The pure parts of publishing and comparing versions: the earliest effective date and its
refusal in words, which version each follows when one was withdrawn, and the side-by-side
word diff of the text (issue 20, items 17 and 20)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from safehold.notices import rules, textdiff
from safehold.policy import parse_policy
from tests.conftest import DEFAULT_POLICY

NOW = datetime(2026, 12, 7, 12, 40, tzinfo=UTC)
POLICY = parse_policy(DEFAULT_POLICY.read_text(), "default")


def test_the_earliest_date_is_the_later_of_the_notice_period_and_the_version_followed() -> None:
    period_end = rules.earliest_effective(NOW, rules.MATERIAL, POLICY)
    assert period_end > NOW + timedelta(days=27)
    later = period_end + timedelta(days=10)
    assert rules.earliest_effective(NOW, rules.MINOR, POLICY) == NOW
    assert rules.earliest_effective(NOW, rules.MINOR, POLICY, follows=later) == later
    assert rules.earliest_effective(NOW, rules.MATERIAL, POLICY, follows=NOW) == period_end


def test_the_refusal_names_the_real_bound_and_what_sets_it() -> None:
    bound = datetime(2027, 1, 6, 12, 40, tzinfo=UTC)
    words = rules.too_soon_words(rules.MINOR, POLICY, bound, follows=("v2", bound))
    assert words == (
        "this minor change can take effect from 6 January 2027 at 12:40 UTC at the earliest "
        "(as a date: 7 January 2027): the version it follows, v2, takes effect then"
    )
    material = rules.too_soon_words(rules.MATERIAL, POLICY, bound, follows=("v1", NOW))
    assert material.endswith("waits for the policy's notice period of 30 days")
    assert "in the past" in rules.too_soon_words(rules.MINOR, POLICY, NOW, follows=None)


def test_a_date_at_midnight_is_its_own_first_whole_day() -> None:
    assert rules.first_whole_day(datetime(2027, 1, 6, tzinfo=UTC)) == date(2027, 1, 6)
    assert rules.first_whole_day(datetime(2027, 1, 6, 0, 0, 1, tzinfo=UTC)) == date(2027, 1, 7)


def test_a_version_follows_the_newest_earlier_one_not_withdrawn() -> None:
    assert rules.follows([1, 2, 3, 4], {2, 3}) == {2: 1, 3: 1, 4: 1}
    assert rules.follows([1, 2, 3], set()) == {2: 1, 3: 2}
    assert rules.follows([1], set()) == {}


def test_only_the_changed_words_are_marked() -> None:
    old = "# Policy\n\nWe keep IP addresses for 30 days.\nUnchanged.\nGone line."
    new = "# Policy\n\nWe keep IP addresses for 14 days.\nUnchanged.\nA new line."
    rows = textdiff.side_by_side(old, new, context=0)
    changed = [r for r in rows if r.kind == "changed"]
    assert [p.text for p in changed[0].old if p.changed] == ["30"]
    assert [p.text for p in changed[0].new if p.changed] == ["14"]
    assert "".join(p.text for p in changed[0].new) == "We keep IP addresses for 14 days."
    assert textdiff.counts(rows) == {"changed": 2, "removed": 0, "added": 0}


def test_long_unchanged_runs_fold_and_say_how_many_lines() -> None:
    same = [f"line {i}" for i in range(20)]
    rows = textdiff.side_by_side("\n".join([*same, "old"]), "\n".join([*same, "new"]))
    assert [r.kind for r in rows] == ["folded", "same", "same", "changed"]
    assert rows[0].skipped == 18


@settings(deadline=None)  # a loaded machine must not fail it
@given(st.lists(st.sampled_from(["a b", "c d", "e", ""]), max_size=12),
       st.lists(st.sampled_from(["a b", "c x", "e", ""]), max_size=12))  # fmt: skip
def test_without_folding_each_side_reads_back_as_its_text(old: list[str], new: list[str]) -> None:
    rows = textdiff.side_by_side("\n".join(old), "\n".join(new), context=10_000)
    if "\n".join(old).splitlines() == "\n".join(new).splitlines():  # nothing changed at all
        assert all(r.kind in ("folded", "same") for r in rows)
        return
    left = [
        "".join(p.text for p in r.old) for r in rows if r.kind in ("same", "changed", "removed")
    ]
    right = ["".join(p.text for p in r.new) for r in rows if r.kind in ("same", "changed", "added")]
    assert left == "\n".join(old).splitlines()
    assert right == "\n".join(new).splitlines()


def test_the_markdown_reads_as_text_line_for_line() -> None:
    markdown = (
        "## 2. Purposes\n"
        "| Data | Kept for |\n"
        "|---|---|\n"
        "| IP address \\| shortened | **30 days** |\n"
        "- **Lawful basis:** see [the policy](https://example.com/policy) or `network.ip`\n"
        "Plain text stays."
    )
    assert textdiff.readable(markdown).splitlines() == [
        "2. Purposes",
        "Data · Kept for",
        "",
        "IP address | shortened · 30 days",
        "• Lawful basis: see the policy (https://example.com/policy) or network.ip",
        "Plain text stays.",
    ]
