"""The small-cell rule on random groups: released cells all hold k people, nobody is
counted twice or lost, and whatever is withheld could not reach k even together."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from safehold.analytics import rules
from safehold.analytics.render import to_csv, to_svg
from safehold.analytics.reports import Report, Row

KEY = rules.person_key(b"\x02" * 32)
PEOPLE = [rules.person_hash(KEY, uuid.UUID(int=i + 1)) for i in range(60)]
keys = st.tuples(st.sampled_from(["tv", "box"]), st.sampled_from(["Tizen", "webOS"]),
                 st.sampled_from(["5", "6", "7"]), st.sampled_from(["A", "B"]),
                 st.sampled_from(["1", "2"]))  # fmt: skip
groups = st.dictionaries(keys, st.sets(st.integers(0, 59), min_size=1, max_size=25), max_size=12)


@given(groups=groups, k=st.integers(2, 12))
def test_released_cells_hold_k_people_and_partition_the_rest(
    groups: dict[tuple[str, ...], set[int]], k: int
) -> None:
    cells = [
        rules.Cell(key, rules.new_sketch(PEOPLE[p] for p in members), len(members))
        for key, members in groups.items()
    ]
    out = rules.release(cells, k, rules.platform_parent)
    released_events = sum(c.events for c in out.cells)
    for cell in out.cells:
        assert rules.people(cell.sketch) >= k
    total = sum(len(m) for m in groups.values())
    if out.withheld:
        everyone = set().union(*groups.values()) if groups else set()
        assert released_events == 0
        assert len(everyone) < k
    else:
        assert released_events == total
    assert len({c.key for c in out.cells}) == len(out.cells)


def test_person_hash_is_keyed() -> None:
    person = uuid.UUID(int=7)
    assert rules.person_hash(KEY, person) != rules.person_hash(rules.person_key(b"x"), person)
    assert 0 <= rules.person_hash(KEY, person) < 2**63


def test_csv_and_svg_escape_labels_and_show_suppressed_rows() -> None:
    from datetime import date

    report = Report("features", 10, date(2026, 2, 1), date(2026, 2, 28), ("event",), [
        Row({"event": "<b>&"}, 12, 40), Row({"event": "x"}, None, status="suppressed"),
    ])  # fmt: skip
    assert to_csv(report).splitlines() == [
        "event,people,events,status",
        "<b>&,12,40,released",
        "x,,,suppressed",
    ]
    svg = to_svg(report)
    assert "&lt;b&gt;&amp;" in svg
    assert "<b>" not in svg
    assert "suppressed" in svg
