"""Problems found in a policy file, phrased for the operator who has to fix them.

Each issue says where (file, line, dotted path), what is wrong (naming the offending
value) and how to fix it, so ``safehold policy check`` can print them one per line and an
editor can jump to the line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_LAST_SEGMENT = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


@dataclass(frozen=True)
class PolicyIssue:
    source: str
    line: int | None
    location: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        location = f" {self.location}:" if self.location else ""
        return f"{where}:{location} {self.message} — fix: {self.fix}"


class PolicyFileError(Exception):
    """A policy file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[PolicyIssue]) -> None:
        self.issues: list[PolicyIssue] = list(issues)
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        lines = [f"policy file has {count} {noun}:", *(f"  {issue}" for issue in self.issues)]
        super().__init__("\n".join(lines))


def parent_location(location: str) -> str | None:
    """``purposes[2].categories[0]`` -> ``purposes[2].categories`` -> ``purposes[2]`` ..."""
    if not location:
        return None
    return _LAST_SEGMENT.sub("", location) if _LAST_SEGMENT.search(location) else ""


def line_for(lines: Mapping[str, int], location: str) -> int | None:
    """The line of ``location``, or of its nearest ancestor present in the file.

    A missing key has no line of its own; pointing at the mapping that lacks it is what
    an operator needs.
    """
    current: str | None = location
    while current is not None:
        if current in lines:
            return lines[current]
        current = parent_location(current)
    return None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else an empty string."""
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
