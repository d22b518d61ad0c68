"""A "billion laughs" policy file (review F9): 350 bytes whose six levels of ten aliases
each expand to a million list items, which took 1.7 GB to load before anchors were refused."""

from __future__ import annotations

ALIAS_LEVELS = 6
_FIRST = "x0: &x0 [" + ",".join(['"a"'] * 10) + "]"
ALIAS_BOMB = "\n".join(
    [_FIRST]
    + [f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, ALIAS_LEVELS + 1)]
)
