"""A side-by-side diff of two rendered policies that people can read: changed lines are
paired, and inside a pair only the words that differ are marked. Long runs of unchanged lines
fold into one "n unchanged lines" row. Pure: the templates draw it (and escape it)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

CONTEXT = 2  # unchanged lines shown around each change
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")  # words, runs of space, single punctuation marks
_HEADING = re.compile(r"^#{1,6}\s+")
_SEPARATOR = re.compile(r"^\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)(.+?)\1")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")


def readable(markdown: str) -> str:
    """The rendered policy's Markdown as people read it, line for line (so line numbers
    still match the posted text): no heading marks, emphasis or escapes; a link as its text
    and address; a table row as its cells joined by " · ", a table's rule line empty."""
    return "\n".join(_readable_line(line) for line in markdown.splitlines())


def _readable_line(line: str) -> str:
    if _SEPARATOR.match(line.strip()):
        return ""
    line = _HEADING.sub("", line)
    stripped = line.strip()
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        cells = re.split(r"(?<!\\)\|", stripped[1:-1])
        line = " · ".join(c.strip() for c in cells)
    if line.startswith("- "):
        line = "• " + line[2:]
    line = _LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", line)
    line = _EMPHASIS.sub(lambda m: m[2], line)
    return _ESCAPE.sub(lambda m: m[1], line)


@dataclass(frozen=True)
class Piece:
    text: str
    changed: bool = False


@dataclass(frozen=True)
class Row:
    """One row: ``same`` (both sides), ``changed`` (a pair), ``removed`` or ``added`` (one
    side), or ``folded`` (``skipped`` unchanged lines not shown)."""

    kind: str
    old: list[Piece] = field(default_factory=list)
    new: list[Piece] = field(default_factory=list)
    old_no: int | None = None
    new_no: int | None = None
    skipped: int = 0


def _words(old: str, new: str) -> tuple[list[Piece], list[Piece]]:
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    left: list[Piece] = []
    right: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(Piece("".join(a[i1:i2])))
            right.append(Piece("".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Piece("".join(a[i1:i2]), changed=True))
        if j2 > j1:
            right.append(Piece("".join(b[j1:j2]), changed=True))
    return left, right


def side_by_side(old_text: str, new_text: str, *, context: int = CONTEXT) -> list[Row]:
    """The rows of a side-by-side diff of two texts, line by line, words marked."""
    a, b = old_text.splitlines(), new_text.splitlines()
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            last = i2 == len(a) and j2 == len(b)
            rows.extend(_same(a, i1, i2, j1, context, first=not rows, last=last))
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            left, right = _words(a[i1 + k], b[j1 + k])
            rows.append(Row("changed", left, right, i1 + k + 1, j1 + k + 1))
        for k in range(i1 + pairs, i2):
            rows.append(Row("removed", old=[Piece(a[k], changed=True)], old_no=k + 1))
        for k in range(j1 + pairs, j2):
            rows.append(Row("added", new=[Piece(b[k], changed=True)], new_no=k + 1))
    return rows


def _same(
    a: list[str], i1: int, i2: int, j1: int, context: int, *, first: bool, last: bool
) -> list[Row]:
    """Unchanged lines: ``context`` after the change before and before the next, the rest
    folded (no leading context at the start of the text, no trailing one at its end)."""
    head = 0 if first else context
    tail = 0 if last else context
    shown = list(range(i1, i2))
    if len(shown) <= head + tail + 1:
        keep_head, keep_tail, skipped = shown, [], 0
    else:
        keep_head, keep_tail = shown[:head], shown[len(shown) - tail :] if tail else []
        skipped = len(shown) - head - tail
    rows = [Row("same", [Piece(a[i])], [Piece(a[i])], i + 1, j1 + i - i1 + 1) for i in keep_head]
    if skipped:
        rows.append(Row("folded", skipped=skipped))
    rows += [Row("same", [Piece(a[i])], [Piece(a[i])], i + 1, j1 + i - i1 + 1) for i in keep_tail]
    return rows


def counts(rows: list[Row]) -> dict[str, int]:
    """How many lines changed, were removed and were added."""
    return {
        kind: sum(1 for r in rows if r.kind == kind) for kind in ("changed", "removed", "added")
    }
