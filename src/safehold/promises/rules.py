"""What a check is and what it reports. Pure: no database here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.vault.providers import KeyProvider

MAX_EXAMPLES = 5  # ids shown per violated check
USED = ("ok", "partial", "disclosed")  # audit outcomes under which data was used


@dataclass(frozen=True)
class Context:
    session: Session
    policy: Policy
    now: datetime
    book: PolicyBook  # every published version, loaded once per run
    keys: KeyProvider | None = None  # the key provider, for what it holds (month epochs)


@dataclass
class Finding:
    """What one check found: how many violations, and the ids of the first few."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, ids: Iterable[object], count: int | None = None) -> None:
        names = [str(i) for i in ids]
        self.count += len(names) if count is None else count
        for one in names:
            if len(self.examples) < MAX_EXAMPLES and one not in self.examples:
                self.examples.append(one)


@dataclass(frozen=True)
class Check:
    id: str
    promise: str  # the promise in the words a person reads
    run: Callable[[Context], Finding]


@dataclass(frozen=True)
class Result:
    id: str
    promise: str
    held: bool
    count: int
    examples: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "promise": self.promise, "held": self.held, "count": self.count,
            "examples": list(self.examples), "notes": list(self.notes),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(
            str(data["id"]), str(data["promise"]), bool(data["held"]), int(data["count"]),
            tuple(data.get("examples", ())), tuple(data.get("notes", ())),
        )  # fmt: skip


def result(check: Check, finding: Finding) -> Result:
    return Result(
        check.id, check.promise, finding.count == 0, finding.count,
        tuple(finding.examples), tuple(finding.notes),
    )  # fmt: skip


def violations(results: Iterable[Result]) -> int:
    return sum(1 for r in results if not r.held)
