"""What a retention run did, per category: the report the CLI prints and the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class HeldBack:
    hold_id: str
    reason: str
    legal_basis: str
    until: datetime
    people: set[str] = field(default_factory=set)
    rows: int = 0


@dataclass
class Line:
    """What the run did for one category."""

    category: str
    retention_class: str
    action: str
    deleted: int = 0  # rows deleted (events: rows in the dropped months)
    people: int = 0  # people whose data of this category was deleted
    shredded: int = 0  # data keys destroyed
    months: list[str] = field(default_factory=list)
    held: dict[str, HeldBack] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    at: datetime
    dry_run: bool
    lines: dict[tuple[str, str], Line] = field(default_factory=dict)

    def line(self, category: str, retention_class: str, action: str) -> Line:
        key = (category, retention_class)
        if key not in self.lines:
            self.lines[key] = Line(category, retention_class, action)
        return self.lines[key]

    @property
    def work(self) -> int:
        return sum(x.deleted + x.shredded + len(x.months) for x in self.lines.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "categories": [
                {
                    "category": x.category,
                    "retention_class": x.retention_class,
                    "action": x.action,
                    "deleted": x.deleted,
                    "people": x.people,
                    "keys_shredded": x.shredded,
                    "months_dropped": x.months,
                    "held_back": [
                        {
                            "hold_id": h.hold_id,
                            "reason": h.reason,
                            "legal_basis": h.legal_basis,
                            "until": h.until.isoformat(),
                            "people": len(h.people),
                            "rows": h.rows,
                        }
                        for h in x.held.values()
                    ],
                    "notes": x.notes,
                }
                for x in sorted(self.lines.values(), key=lambda x: (x.category, x.retention_class))
            ],
        }
