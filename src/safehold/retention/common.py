"""What every sweep of the retention run shares: its environment (sessions, policy, vault,
the run's fixed now, dry run, the report), the holds in force, and the audit entry."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.notices.cohorts import HeldUnder
from safehold.policy.document import Policy
from safehold.retention import rules
from safehold.retention.models import LegalHold
from safehold.retention.report import HeldBack, Line, Report
from safehold.vault.service import Vault

SYSTEM = Actor("system", "retention")
PURPOSE = "legal_obligation"  # storage limitation, Art. 5(1)(e): the controller's duty
BeforeDrop = Callable[[Session, date], None]


@dataclass(frozen=True)
class Env:
    sessions: sessionmaker[Session]
    policy: Policy
    vault: Vault
    now: datetime
    dry_run: bool
    report: Report
    # People still handled under a version that keeps some category for a shorter time (a
    # material change they have not accepted, decision 0022): each sweep applies that too.
    held: tuple[HeldUnder, ...] = ()


def active_holds(session: Session, now: datetime) -> list[rules.ActiveHold]:
    found = session.scalars(select(LegalHold).where(LegalHold.lifted_at.is_(None)))
    return [
        rules.ActiveHold(str(h.id), str(h.subject_id), frozenset(h.categories), h.reason,
                         h.legal_basis, h.until)
        for h in found if rules.is_active(h.lifted_at, h.until, now)
    ]  # fmt: skip


def note_held(line: Line, held: Iterable[rules.ActiveHold], subject_id: str, rows: int) -> None:
    for hold in held:
        entry = line.held.setdefault(
            hold.id, HeldBack(hold.id, hold.reason, hold.legal_basis, hold.until)
        )
        entry.people.add(subject_id)
        entry.rows += rows


def audit_run(session: Session, env: Env, action: str, subject_id: uuid.UUID | None,
           categories: Sequence[str]) -> None:  # fmt: skip
    audit.record(
        session, actor=SYSTEM, action=action, subject_id=subject_id, categories=categories,
        purpose=PURPOSE, outcome="ok", clock=_Fixed(env.now),
    )  # fmt: skip


@dataclass(frozen=True)
class _Fixed:
    at: datetime

    def now(self) -> datetime:
        return self.at


def count_rows(session: Session, query: Select[Any] | Select[Any, Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
