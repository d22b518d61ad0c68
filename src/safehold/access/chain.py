"""Pure rules of the audit hash chain: canonical encoding, hashing, and verification.

The chain makes the audit log tamper-evident: each entry's hash is SHA-256 over the previous
entry's hash and a canonical JSON encoding of the entry, so any edit, deletion, insertion
or reordering is found by walking the chain. The head hash can be copied elsewhere (a
ticket, a log archive) to anchor it against wholesale rewriting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

GENESIS = "0" * 64
# Built once (json.dumps with these arguments would build an encoder per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class EntryData:
    seq: int
    at: datetime
    actor: str
    action: str
    subject_id: str | None
    categories: tuple[str, ...]
    purpose: str | None
    outcome: str
    request_id: str | None


def canonical_parts(entry: EntryData) -> tuple[str, str]:
    """The canonical encoding split around the sequence number:
    ``canonical(entry) == head + str(entry.seq) + tail``.

    The append statement numbers the entry inside the database, under the head row's lock, so
    it computes the hash there from these two parts (``access.audit``). Sorted keys put
    ``seq`` between ``request_id`` and ``subject_id``, so the parts are the encoding of the
    keys before it and of the one after it (a property test holds this to the whole-entry
    encoding)."""
    before = {
        "action": entry.action,
        "actor": entry.actor,
        "at": entry.at.isoformat(timespec="microseconds"),
        "categories": sorted(entry.categories),
        "outcome": entry.outcome,
        "purpose": entry.purpose,
        "request_id": entry.request_id,
    }
    head = _CANONICAL.encode(before)[:-1] + ',"seq":'
    tail = ',"subject_id":' + _CANONICAL.encode(entry.subject_id) + "}"
    return head, tail


def canonical(entry: EntryData) -> bytes:
    head, tail = canonical_parts(entry)
    return f"{head}{entry.seq}{tail}".encode()


def link_text_parts(entry: EntryData) -> tuple[str, str]:
    """What the hash covers, less the previous hash and the sequence number:
    ``link_hash(prev, entry)`` is SHA-256 over ``prev + before + str(seq) + after``."""
    head, tail = canonical_parts(entry)
    return "\n" + head, tail


def link_hash(prev_hash: str, entry: EntryData) -> str:
    before, after = link_text_parts(entry)
    return hashlib.sha256(f"{prev_hash}{before}{entry.seq}{after}".encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    checked: int
    head_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(
    entries: Iterable[tuple[EntryData, str, str]], head: tuple[int, str] | None
) -> Verification:
    """Walk ``(entry, prev_hash, hash)`` in seq order; name the first broken link.

    ``head`` is the stored (last_seq, last_hash): it catches entries cut off the end."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for entry, prev_hash, stored_hash in entries:
        if entry.seq != expected_seq:
            what = "missing" if entry.seq > expected_seq else "duplicated or reordered"
            return Verification(checked, expected_prev, Break(expected_seq, f"entry {what}"))
        if prev_hash != expected_prev:
            return Verification(checked, expected_prev, Break(entry.seq, "previous-hash mismatch"))
        if link_hash(prev_hash, entry) != stored_hash:
            return Verification(checked, expected_prev, Break(entry.seq, "entry altered"))
        expected_prev, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    if head is not None and (head[0] != expected_seq - 1 or head[1] != expected_prev):
        return Verification(
            checked, expected_prev, Break(expected_seq, "entries missing after the last one")
        )
    return Verification(checked, expected_prev, None)
