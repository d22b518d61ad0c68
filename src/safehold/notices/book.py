"""The process's view of the published policy versions: which one is in force now.

The active version switches at its effective date, driven by the clock, with no restart.
Each process keeps the versions in memory and looks for new ones at most every few seconds,
so a version published by another process (the CLI, another API worker) is picked up. With
Redis (``safehold.shared``) a process that loads a new version announces its number, and
every other process reads that number on each request and loads the version before
answering; when Redis does not answer, the poll every few seconds is what remains.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safehold.db import reading_only
from safehold.notices.models import PolicyVersion, PolicyWithdrawal
from safehold.notices.rules import VersionFacts, in_force
from safehold.policy import Policy, parse_policy

if TYPE_CHECKING:
    from safehold.shared import SharedRedis

REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class LoadedVersion:
    facts: VersionFacts
    policy: Policy
    content_hash: str


class PolicyBook:
    def __init__(self, fallback: Policy, *, shared: SharedRedis | None = None) -> None:
        self.fallback = fallback  # the policy file, until a first version is published
        self._versions: dict[int, LoadedVersion] = {}
        self._seen = 0  # the newest version read, withdrawn or not
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._shared = shared
        self._heard = 0  # the newest version number Redis announced that this book acted on

    def load(self, session: Session) -> None:
        """Add the versions published since the last load (versions never change), and drop
        those withdrawn (a withdrawn version never takes effect: decision 0034)."""
        rows = session.scalars(
            select(PolicyVersion).where(PolicyVersion.seq > self._seen).order_by(PolicyVersion.seq)
        )
        withdrawn = set(session.scalars(select(PolicyWithdrawal.version_seq)))
        with self._lock:
            known = self._seen
            for row in rows:
                self._seen = max(self._seen, row.seq)
                if row.seq in withdrawn:
                    continue
                self._versions[row.seq] = LoadedVersion(
                    VersionFacts(
                        row.seq, row.change_class, row.effective_at, tuple(row.needs_acceptance)
                    ),
                    parse_policy(row.source, f"policy version v{row.seq}"),
                    row.content_hash,
                )
            for seq in withdrawn:
                self._versions.pop(seq, None)
            self._checked = time.monotonic()
            newest = self._seen  # withdrawn ones included: they were published
        if self._shared is not None and newest > known:
            self._shared.announce_policy(newest)

    def refresh_if_stale(self, sessions: sessionmaker[Session]) -> None:
        """Load new versions when Redis announced one this book has not seen, or when the
        last look is :data:`REFRESH_SECONDS` old."""
        announced = self._shared.latest_policy() if self._shared is not None else None
        if announced is not None and announced > max(self._heard, self._seen):
            self._heard = announced  # acted on once, even if not yet visible here
            self._checked = float("-inf")
        if time.monotonic() - self._checked >= REFRESH_SECONDS:
            try:
                with sessions() as session:
                    reading_only(session)
                    self.load(session)
            except SQLAlchemyError:
                # Not migrated yet, or the database is down: keep what we have; /readyz
                # reports the database, and the next request tries again.
                self._checked = time.monotonic()

    def facts(self) -> list[VersionFacts]:
        return [v.facts for v in sorted(self._versions.values(), key=lambda v: v.facts.seq)]

    def in_force(self, now: datetime) -> LoadedVersion | None:
        facts = in_force(self.facts(), now)
        return None if facts is None else self._versions[facts.seq]

    def seqs(self) -> list[int]:
        return sorted(self._versions)

    def version(self, seq: int) -> LoadedVersion | None:
        return self._versions.get(seq)

    def latest(self) -> LoadedVersion | None:
        return self._versions[max(self._versions)] if self._versions else None

    def policy(self, now: datetime) -> Policy:
        current = self.in_force(now)
        return self.fallback if current is None else current.policy
