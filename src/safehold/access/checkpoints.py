"""Audit checkpoints: every chain's head sealed into one numbered document, MAC'd with the
audit key, kept in the database AND emitted outside it — appended to a file beside the keys,
written to the log as one line, and served at ``GET /v1/audit/checkpoints/latest`` for a
third party to keep. Each checkpoint also covers the previous one's MAC, so checkpoints
cannot be dropped from the middle.

What an outside copy adds: a database writer without the key can cut entries off the end
(or wipe the log) and move the heads back; no link breaks, but the entries a checkpoint
sealed are gone, and ``safehold audit verify`` (against the file, or ``--expect``) says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access import chain
from safehold.access.models import AuditCheckpoint, AuditEntry, AuditHead
from safehold.clock import Clock

FORMAT = "safehold-audit-checkpoint/1"
FILE = Path("keys") / "audit-checkpoints.jsonl"  # under the data dir, beside kek.json
INTERVAL = timedelta(hours=1)  # the worker seals the heads at most this often
POLL_SECONDS = 300.0
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

Head = tuple[int, int, str]  # (chain, position, hash)


@dataclass(frozen=True)
class Checkpoint:
    number: int
    at: datetime
    heads: tuple[Head, ...]
    prev_mac: str  # the previous checkpoint's mac (GENESIS before the first)
    mac: str

    def document(self) -> dict[str, object]:
        return _body(self.number, self.at, self.heads, self.prev_mac) | {"mac": self.mac}

    def line(self) -> str:
        return _CANONICAL.encode(self.document())


def _body(number: int, at: datetime, heads: Sequence[Head], prev_mac: str) -> dict[str, object]:
    return {
        "format": FORMAT,
        "number": number,
        "at": at.isoformat(timespec="microseconds"),
        "heads": [list(h) for h in heads],
        "prev_mac": prev_mac,
    }


def sign(key: bytes, number: int, at: datetime, heads: Sequence[Head], prev: str) -> Checkpoint:
    text = "checkpoint:" + _CANONICAL.encode(_body(number, at, heads, prev))
    mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return Checkpoint(number, at, tuple(heads), prev, mac)


def authentic(key: bytes, checkpoint: Checkpoint) -> bool:
    expected = sign(key, checkpoint.number, checkpoint.at, checkpoint.heads, checkpoint.prev_mac)
    return hmac.compare_digest(expected.mac, checkpoint.mac)


def parse(text: str) -> Checkpoint | None:
    """A checkpoint from its JSON text, or None for anything that is not one."""
    try:
        doc = json.loads(text)
        if doc["format"] != FORMAT or not isinstance(doc["number"], int):
            return None
        heads = tuple((int(c), int(p), str(h)) for c, p, h in doc["heads"])
        at = datetime.fromisoformat(doc["at"])
        return Checkpoint(doc["number"], at, heads, str(doc["prev_mac"]), str(doc["mac"]))
    except (ValueError, TypeError, KeyError):
        return None


def _of(row: AuditCheckpoint) -> Checkpoint:
    heads = tuple((int(c), int(p), str(h)) for c, p, h in row.heads)
    return Checkpoint(row.number, row.at, heads, row.prev_mac, row.mac)


def latest(session: Session) -> Checkpoint | None:
    row = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1)
    ).first()
    return _of(row) if row is not None else None


def take(session: Session, key: bytes, *, clock: Clock) -> Checkpoint:
    """Seal every chain's head as it stands into the next checkpoint (in the caller's
    transaction: a concurrent checkpoint takes the same number and one of them fails)."""
    heads = [(h.id, h.last_seq, h.last_hash) for h in session.scalars(select(AuditHead))]
    last = latest(session)
    number = last.number + 1 if last else 1
    made = sign(key, number, clock.now(), sorted(heads), last.mac if last else chain.GENESIS)
    session.add(AuditCheckpoint(
        number=made.number, at=made.at, heads=[list(h) for h in made.heads],
        prev_mac=made.prev_mac, mac=made.mac,
    ))  # fmt: skip
    session.flush()
    return made


def append_to_file(data_dir: Path, checkpoint: Checkpoint) -> Path:
    """Append one line to the checkpoint file beside the keys (created 0600, dir 0700)."""
    path = data_dir / FILE
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(mode=0o700, parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(checkpoint.line() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def read_file(data_dir: Path) -> list[tuple[int, Checkpoint | None]]:
    """Every line of the checkpoint file as (line number, checkpoint or None if unreadable)."""
    path = data_dir / FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(i, parse(text)) for i, text in enumerate(lines, start=1) if text.strip()]


def check(
    session: Session,
    key: bytes,
    *,
    outside: Iterable[tuple[str, Checkpoint | None]] = (),
) -> chain.Break | None:
    """The first problem with the checkpoints, or None.

    The database's checkpoints: each authentic, numbered 1, 2, … and covering the previous
    one's MAC. ``outside`` copies (named by where they came from: a file line, ``--expect``):
    each authentic and present, identical, in the database. Then every chain must still
    reach the position its latest checkpoint sealed, with the sealed link there."""
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.number))
    stored: dict[int, Checkpoint] = {}
    prev = chain.GENESIS
    for expected, row in enumerate(rows, start=1):
        made = _of(row)
        place = f"checkpoint {made.number}"
        if made.number != expected:
            return _at(f"checkpoint {expected}", "checkpoint missing from the database")
        if not authentic(key, made):
            return _at(place, "checkpoint signature invalid")
        if made.prev_mac != prev:
            return _at(place, "checkpoint does not follow the previous one")
        stored[made.number], prev = made, made.mac
    newest = stored[max(stored)] if stored else None
    for where, copy in outside:
        if copy is None:
            return _at(where, "not a checkpoint")
        if not authentic(key, copy):
            return _at(where, f"checkpoint {copy.number}: signature invalid")
        if stored.get(copy.number) != copy:
            return _at(where, f"checkpoint {copy.number} is missing from the database or differs")
        if newest is None or copy.number > newest.number:
            newest = copy
    return _reaches(session, newest) if newest is not None else None


def _reaches(session: Session, checkpoint: Checkpoint) -> chain.Break | None:
    for chain_id, position, sealed in checkpoint.heads:
        if position == 0:
            continue
        found = session.scalar(
            select(AuditEntry.hash).where(
                AuditEntry.chain == chain_id, AuditEntry.position == position
            )
        )
        if found is None:
            reason = f"entries cut off: checkpoint {checkpoint.number} sealed this position"
            return chain.Break(position, reason, chain_id)
        if found != sealed:
            reason = f"entry differs from the link checkpoint {checkpoint.number} sealed"
            return chain.Break(position, reason, chain_id)
    return None


def _at(place: str, reason: str) -> chain.Break:
    return chain.Break(0, reason, -1, place)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
