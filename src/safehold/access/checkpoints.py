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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access import chain
from safehold.access.audit_keys import AuditKeys
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
    key_version: int = 0  # the audit key version that sealed it (access.audit_keys)

    def document(self) -> dict[str, object]:
        body = _body(self.number, self.at, self.heads, self.prev_mac, self.key_version)
        return body | {"mac": self.mac}

    def line(self) -> str:
        return _CANONICAL.encode(self.document())


def _body(
    number: int, at: datetime, heads: Sequence[Head], prev_mac: str, key_version: int
) -> dict[str, object]:
    body: dict[str, object] = {
        "format": FORMAT,
        "number": number,
        "at": at.isoformat(timespec="microseconds"),
        "heads": [list(h) for h in heads],
        "prev_mac": prev_mac,
    }
    if key_version:  # absent for version 0: checkpoints from before rotation read the same
        body["key"] = key_version
    return body


def sign(
    key: bytes,
    number: int,
    at: datetime,
    heads: Sequence[Head],
    prev: str,
    *,
    key_version: int = 0,
) -> Checkpoint:
    text = "checkpoint:" + _CANONICAL.encode(_body(number, at, heads, prev, key_version))
    mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return Checkpoint(number, at, tuple(heads), prev, mac, key_version)


def authentic(keys: bytes | Mapping[int, bytes], checkpoint: Checkpoint) -> bool:
    """Sealed by the audit key version it names (a bare key: version 0)."""
    key = keys.get(checkpoint.key_version) if isinstance(keys, Mapping) else keys
    if key is None or (isinstance(keys, bytes) and checkpoint.key_version):
        return False
    made = checkpoint
    expected = sign(
        key, made.number, made.at, made.heads, made.prev_mac, key_version=made.key_version
    )
    return hmac.compare_digest(expected.mac, checkpoint.mac)


def parse(text: str) -> Checkpoint | None:
    """A checkpoint from its JSON text, or None for anything that is not one."""
    try:
        doc = json.loads(text)
        if doc["format"] != FORMAT or not isinstance(doc["number"], int):
            return None
        heads = tuple((int(c), int(p), str(h)) for c, p, h in doc["heads"])
        at = datetime.fromisoformat(doc["at"])
        version = doc.get("key", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            return None
        mac, prev = str(doc["mac"]), str(doc["prev_mac"])
        return Checkpoint(doc["number"], at, heads, prev, mac, version)
    except (ValueError, TypeError, KeyError):
        return None


def _of(row: AuditCheckpoint) -> Checkpoint:
    heads = tuple((int(c), int(p), str(h)) for c, p, h in row.heads)
    return Checkpoint(row.number, row.at, heads, row.prev_mac, row.mac, row.key_version)


def latest(session: Session) -> Checkpoint | None:
    row = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1)
    ).first()
    return _of(row) if row is not None else None


def take(session: Session, keys: AuditKeys | bytes, *, clock: Clock) -> Checkpoint:
    """Seal every chain's head as it stands into the next checkpoint (in the caller's
    transaction: a concurrent checkpoint takes the same number and one of them fails), with
    the audit key version ``AuditKeys.for_checkpoint`` chooses."""
    ring = keys if isinstance(keys, AuditKeys) else AuditKeys(keys)
    heads = [(h.id, h.last_seq, h.last_hash) for h in session.scalars(select(AuditHead))]
    last = latest(session)
    number = last.number + 1 if last else 1
    now = clock.now()
    version, key = ring.for_checkpoint(session.connection(), now, last.key_version if last else 0)
    prev = last.mac if last else chain.GENESIS
    made = sign(key, number, now, sorted(heads), prev, key_version=version)
    session.add(AuditCheckpoint(
        number=made.number, at=made.at, heads=[list(h) for h in made.heads],
        prev_mac=made.prev_mac, mac=made.mac, key_version=made.key_version,
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
    keys: AuditKeys | bytes,
    *,
    outside: Iterable[tuple[str, Checkpoint | None]] = (),
) -> chain.Break | None:
    """The first problem with the checkpoints, or None.

    The database's checkpoints: each authentic, numbered 1, 2, … and covering the previous
    one's MAC. ``outside`` copies (named by where they came from: a file line, ``--expect``):
    each authentic and present, identical, in the database. Then every chain must still
    reach the position its latest checkpoint sealed, with the sealed link there; and no entry
    past what the first checkpoint sealed with a key version may be keyed by an older one."""
    ring = keys if isinstance(keys, AuditKeys) else AuditKeys(keys)
    key = ring.readable(session.connection())
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
        if stored and made.key_version < stored[made.number - 1].key_version:
            return _at(place, "checkpoint sealed with an older audit key than the one before")
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
    if newest is not None and (cut := _reaches(session, newest)) is not None:
        return cut
    return _retired(session, stored.values())


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


def _retired(session: Session, made: Iterable[Checkpoint]) -> chain.Break | None:
    """An entry keyed by a version older than a checkpoint's, past what the first checkpoint
    with that version sealed: written with a retired key (``access.audit_keys``)."""
    first: dict[int, Checkpoint] = {}
    for checkpoint in made:
        first.setdefault(checkpoint.key_version, checkpoint)
    for version, checkpoint in sorted(first.items()):
        if version == 0:
            continue
        sealed = {c: p for c, p, _ in checkpoint.heads}
        older = select(func.min(AuditEntry.position)).where(AuditEntry.key_version < version)
        places = [(c, older.where(AuditEntry.chain == c, AuditEntry.position > p))
                  for c, p in sealed.items()]  # fmt: skip
        places += [(c, older.where(AuditEntry.chain == c)) for c in _chains_after(session, sealed)]
        for chain_id, query in places:
            position = session.scalar(query)
            if position is not None:
                reason = (
                    f"keyed by an audit key older than version {version}, past what "
                    f"checkpoint {checkpoint.number} sealed with it: a retired key"
                )
                return chain.Break(position, reason, chain_id)
    return None


def _chains_after(session: Session, sealed: Mapping[int, int]) -> list[int]:
    """Chains with entries that a checkpoint sealing ``sealed`` did not know of."""
    query = select(AuditEntry.chain).distinct().where(AuditEntry.chain.not_in(list(sealed)))
    return sorted(session.scalars(query))


def _at(place: str, reason: str) -> chain.Break:
    return chain.Break(0, reason, -1, place)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
