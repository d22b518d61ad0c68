"""Pure rules of the analytics feature: distinct-person sketches, the cells of each roll-up,
when a day is final, and the small-cell rule that decides what a report may release.

No FastAPI and no SQLAlchemy here. Sketches are Apache DataSketches HyperLogLog sketches
(``datasketches``): mergeable, and exact in practice for small groups (below a few hundred
people they hold the hashed ids themselves), which is where the k threshold is decided.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

PURPOSE = "platform_improvement"
LG_K = 12  # 4,096 registers: about 1.6% standard error in HLL mode; exact below ~380 people
BOUND_STDEVS = 3  # a cell is released only if its lower bound at 3 std devs reaches k
# A day's roll-up is final once built this long after it ended (the grace period for late
# data; SAFEHOLD_ANALYTICS_GRACE_DAYS). Events that come later still reopen it (late.py).
GRACE_PERIOD = timedelta(days=7)
# A day is rebuilt at most this often while it is still receiving its own day's events, and
# once more when this long has passed after it ended: every batch received during the day
# has committed by then (a request is bounded far below an hour), and anything later is a
# late event (late.py) that reopens the day by itself.
REBUILD_EVERY = timedelta(hours=1)
SETTLE = timedelta(hours=1)
OTHER = "(other)"  # the label of folded cells; ua-parser's own "Other" never collides

# The grains a day is rolled up by, and the names of their key fields.
ALL, NAME, PLATFORM, LOGIN_HOUR, LOGIN_WEEKDAY = (
    "all", "name", "platform", "login_hour", "login_weekday",
)  # fmt: skip
FIELDS: dict[str, tuple[str, ...]] = {
    ALL: (),
    NAME: ("event",),
    PLATFORM: ("device_type", "os", "os_version", "browser", "browser_version"),
    LOGIN_HOUR: ("hour",),
    LOGIN_WEEKDAY: ("weekday",),
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def is_error(event_name: str) -> bool:
    """Error events, by naming convention: ``error`` or ``<area>.error`` (``app.error``)."""
    return event_name == "error" or event_name.endswith(".error")


# --- people as sketches ---------------------------------------------------------------------


def person_key(index_key: bytes) -> bytes:
    """The key that hashes people into sketches, derived from the vault's blind-index key:
    a sketch of a small group holds its members' hashes, which without this key cannot be
    tested against a known person id."""
    return hmac.new(index_key, b"safehold/analytics/person/v1", hashlib.sha256).digest()


Sketch = Any  # datasketches.hll_sketch; the library ships no type information


def _ds() -> Any:
    """The datasketches module, imported on first use: it loads numpy (~20 MB), which
    processes that never build or read a sketch (an export, the CLI) should not pay for."""
    import datasketches  # type: ignore[import-untyped]

    return datasketches


def person_hash(key: bytes, subject_id: uuid.UUID) -> int:
    """A 63-bit keyed hash of a person (what the sketch is fed; never the id)."""
    digest = hmac.new(key, subject_id.bytes, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def new_sketch(hashes: Iterable[int] = ()) -> Sketch:
    sketch = _ds().hll_sketch(LG_K, _ds().tgt_hll_type.HLL_8)
    for h in hashes:
        sketch.update(h)
    return sketch


def merge(sketches: Iterable[Sketch]) -> Sketch:
    union = _ds().hll_union(LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union.get_result(_ds().tgt_hll_type.HLL_8)


def dump(sketch: Sketch) -> bytes:
    return bytes(sketch.serialize_compact())


def load(blob: bytes) -> Sketch:
    return _ds().hll_sketch.deserialize(blob)


def people(sketch: Sketch) -> int:
    """The released estimate of distinct people (exact for small groups)."""
    return round(float(sketch.get_estimate()))


def at_least(sketch: Sketch, k: int) -> bool:
    """True only if the group certainly holds ``k`` people or more (lower bound)."""
    return bool(sketch.get_lower_bound(BOUND_STDEVS) >= k - 1e-9)


# --- cells and time -------------------------------------------------------------------------


def cell_text(values: Sequence[str]) -> str:
    """A cell's key as stored: compact JSON of its field values."""
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def cell_values(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def platform_cell(
    device_type: str | None, os: str | None, os_major: str | None,
    browser: str | None, browser_major: str | None,
) -> tuple[str, ...]:  # fmt: skip
    return (device_type or "unknown", os or "", os_major or "", browser or "", browser_major or "")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def is_final(day: date, built_at: datetime, grace: timedelta = GRACE_PERIOD) -> bool:
    """A day built long enough after it ended: reports may release it, and only a late
    event (which reopens it) changes it again."""
    return built_at >= day_bounds(day)[1] + grace


def needs_build(
    day: date, built_at: datetime | None, final: bool, now: datetime,
    grace: timedelta = GRACE_PERIOD,
) -> bool:  # fmt: skip
    """Whether the worker should (re)build ``day`` now, late events aside (those reopen
    their day whatever this says): never built; built before its own day's events had all
    come in and not within the last ``REBUILD_EVERY``; or due to become final."""
    if built_at is None:
        return True
    if final:
        return False
    end = day_bounds(day)[1]
    if now >= end + grace:
        return True  # the build that makes it final
    return built_at < end + SETTLE and now - built_at > REBUILD_EVERY


# The days a report may cover: Python's calendar less its first and last year, so the day
# before, the day after and the next month of each of them exist. A date outside it, asked
# for by the API or the console, is refused as invalid input instead of overflowing.
FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only: int() of "²" fails


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def parse_month(text: str | None) -> date | None:
    """``2026-02`` -> 1 February 2026; anything else, or a month outside
    :data:`FIRST_DAY`..:data:`LAST_DAY`, -> None."""
    match = _MONTH.fullmatch(text or "")
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    if not (FIRST_DAY.year <= year <= LAST_DAY.year and 1 <= month <= 12):
        return None
    return date(year, month, 1)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_days(month: date) -> list[date]:
    first = month_start(month)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- the small-cell rule --------------------------------------------------------------------


@dataclass
class Cell:
    """One group in a report: its key, its people (a sketch) and its additive counts."""

    key: tuple[str, ...]
    sketch: Sketch
    events: int = 0
    errors: int = 0
    parts: int = 1  # how many original cells it holds (folded "other" cells hold several)

    def absorb(self, other: Cell) -> None:
        self.sketch = merge((self.sketch, other.sketch))
        self.events += other.events
        self.errors += other.errors
        self.parts += other.parts


@dataclass
class Released:
    cells: list[Cell]
    withheld: bool = False  # some people could not be released in any cell
    folded: int = field(default=0)  # original cells folded into an "other" cell


Parent = Callable[[tuple[str, ...]], tuple[str, ...] | None]


def flat_parent(key: tuple[str, ...]) -> tuple[str, ...] | None:
    """One level: every small cell goes to the report's single "other" cell."""
    other = (OTHER,) * len(key)
    return None if key == other else other


def platform_parent(key: tuple[str, ...]) -> tuple[str, ...] | None:
    """Versions first (the family with "(other)" versions), then the single "other" cell."""
    device, os, os_version, browser, browser_version = key
    if os_version != OTHER or browser_version != OTHER:
        return (device, os, OTHER, browser, OTHER)
    return flat_parent(key)


def release(cells: Iterable[Cell], k: int, parent: Parent = flat_parent) -> Released:
    """Fold every cell of fewer than ``k`` people into its parent, level by level, until
    every cell left holds at least ``k`` people; then, if the top "other" cell is still
    small, fold the smallest released cells into it (complementary suppression) until it
    reaches ``k`` — or withhold it if even everything together cannot.

    The result is one partition of the report's rows: no total is released beside it, so
    no subtraction of released figures isolates a group smaller than ``k``."""
    current: dict[tuple[str, ...], Cell] = {}
    for cell in cells:
        _put(current, cell)
    folded = 0
    while True:
        small = [c for c in current.values() if not at_least(c.sketch, k)]
        movable = [(c, parent(c.key)) for c in small]
        movable = [(c, p) for c, p in movable if p is not None]
        if not movable:
            break
        for cell, up in movable:
            del current[cell.key]
            folded += cell.parts
            _put(current, Cell(up, cell.sketch, cell.events, cell.errors, cell.parts))  # type: ignore[arg-type]
    top = next((c for c in current.values() if parent(c.key) is None), None)
    while top is not None and not at_least(top.sketch, k):
        rest = [c for c in current.values() if c is not top]
        if not rest:
            del current[top.key]
            return Released([], withheld=True, folded=folded)
        smallest = min(rest, key=lambda c: (people(c.sketch), c.events, c.key))
        del current[smallest.key]
        folded += smallest.parts
        top.absorb(smallest)
    ordered = sorted(current.values(), key=lambda c: (OTHER in c.key, -people(c.sketch), c.key))
    return Released(ordered, folded=folded)


def _put(cells: dict[tuple[str, ...], Cell], cell: Cell) -> None:
    existing = cells.get(cell.key)
    if existing is None:
        cells[cell.key] = Cell(cell.key, cell.sketch, cell.events, cell.errors, cell.parts)
    else:
        existing.absorb(cell)
