"""The erasure ledger: every crypto-shred (an erasure's, a retention run's) written down
outside the database, so a database restored from an older backup can be brought back to
what was destroyed since, before it serves anyone (docs/vault.md, "Backups").

One JSON line per shred, appended (and fsynced) by :meth:`safehold.vault.service.Vault.shred`
before the transaction that destroys the keys commits: person id, retention classes, the
time, why (``erasure`` with the request id that is also the certificate's, or ``retention``)
— never a name, an address or any other personal datum, and no key material. A transaction
that rolls back afterwards appends a ``void`` line naming the entry. A process that dies in
between leaves the entry standing: replaying it destroys keys that were being destroyed
anyway (an erasure that had started, data past its retention), never anything else.

The file sits beside the key file by default (``keys/erasure-ledger.jsonl`` under the data
dir) or at ``SAFEHOLD_ERASURE_LEDGER``; it is backed up with the keys, not with the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from safehold.logs import get_logger

FORMAT = "safehold-erasure-ledger/1"
FILE = Path("keys") / "erasure-ledger.jsonl"  # under the data dir, beside kek.json
ERASURE = "erasure"
RETENTION = "retention"
VOID = "void"
KINDS = (ERASURE, RETENTION)
log = get_logger(__name__)
_PENDING = "safehold.ledger.pending"  # Session.info: (ledger, entry ids) not committed yet


class LedgerError(Exception):
    """The ledger cannot be read or written; ``str()`` is one line for the operator."""


@dataclass(frozen=True)
class Entry:
    """One shred: ``classes`` None means every class the person had (a whole erasure)."""

    id: str
    at: datetime
    kind: str
    subject_id: uuid.UUID
    classes: tuple[str, ...] | None
    ref: str | None  # the erasure request id (= certificate id) or the retention run id

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "at": self.at.isoformat(timespec="microseconds"),
            "kind": self.kind,
            "subject_id": str(self.subject_id),
            "classes": None if self.classes is None else list(self.classes),
            "ref": self.ref,
        }


@dataclass(frozen=True)
class Contents:
    """The ledger read back: entries in the order written, minus those voided."""

    entries: tuple[Entry, ...]
    voided: int


class Ledger:
    """An append-only JSON-lines file, written under an exclusive lock so lines from several
    processes never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, session: Session | None, entry: Entry) -> None:
        """Write the entry durably; with a session, void it if that session rolls back."""
        self._write(entry.document())
        if session is not None:
            pending: list[tuple[Ledger, str]] = session.info.setdefault(_PENDING, [])
            pending.append((self, entry.id))

    def void(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            self._write({"format": FORMAT, "kind": VOID, "id": entry_id})

    def _write(self, document: dict[str, Any]) -> None:
        line = json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"
        try:
            with contextlib.suppress(FileExistsError):
                self.path.parent.mkdir(mode=0o700, parents=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)  # closing releases the lock
        except OSError as exc:
            raise LedgerError(f"cannot append to the erasure ledger {self.path}: {exc}") from exc

    def read(self) -> Contents:
        """Every entry not voided, oldest first; an unreadable line is an error (a damaged
        ledger must be looked at, not skipped: skipping it could bring a person back)."""
        if not self.path.exists():
            return Contents((), 0)
        entries: dict[str, Entry] = {}
        voided = 0
        try:
            handle = self.path.open(encoding="utf-8")
        except OSError as exc:
            raise LedgerError(f"cannot read the erasure ledger {self.path}: {exc}") from exc
        with handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                document = _parse(text, f"{self.path} line {number}")
                if document["kind"] == VOID:
                    voided += entries.pop(str(document["id"]), None) is not None
                else:
                    parsed = _entry(document, f"{self.path} line {number}")
                    entries[parsed.id] = parsed
        return Contents(tuple(entries.values()), voided)


def new_entry(
    *, at: datetime, kind: str, subject_id: uuid.UUID, classes: Iterable[str] | None,
    ref: str | None,
) -> Entry:  # fmt: skip
    if kind not in KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    listed = None if classes is None else tuple(sorted(set(classes)))
    return Entry(uuid.uuid4().hex, at, kind, subject_id, listed, ref)


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        raise LedgerError(f"{where} is not JSON: the ledger is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise LedgerError(f"{where} is not a {FORMAT} line")
    if document.get("kind") not in (*KINDS, VOID) or not isinstance(document.get("id"), str):
        raise LedgerError(f"{where} has no known kind or no id")
    return document


def _entry(document: dict[str, Any], where: str) -> Entry:
    try:
        classes = document["classes"]
        return Entry(
            id=document["id"],
            at=datetime.fromisoformat(document["at"]),
            kind=document["kind"],
            subject_id=uuid.UUID(document["subject_id"]),
            classes=None if classes is None else tuple(str(c) for c in classes),
            ref=document.get("ref"),
        )
    except (KeyError, TypeError, ValueError):
        raise LedgerError(f"{where} is missing a field or has a malformed one") from None


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    """The shred did not happen: say so in the ledger, so a later restore does not apply it."""
    pending: list[tuple[Ledger, str]] = session.info.pop(_PENDING, [])
    by_ledger: dict[int, tuple[Ledger, list[str]]] = {}
    for ledger, entry_id in pending:
        by_ledger.setdefault(id(ledger), (ledger, []))[1].append(entry_id)
    for ledger, ids in by_ledger.values():
        try:
            ledger.void(ids)
        except LedgerError as exc:  # the entries stand: a replay re-applies a shred due anyway
            log.warning("erasure_ledger_void_failed", entries=len(ids), error=str(exc))


def iter_subjects(entries: Iterable[Entry]) -> Iterator[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    for entry in entries:
        if entry.subject_id not in seen:
            seen.add(entry.subject_id)
            yield entry.subject_id
