"""Pure rules of the audit chain: canonical encoding, keyed links, and verification.

Each entry's link is HMAC-SHA256, under the audit key, over the previous entry's link, the
chain's number and a canonical JSON encoding of the entry, so any edit, deletion, insertion or
reordering is found by walking the chain, and nobody without the audit key (which lives with
the key-encryption keys, never in the database) can recompute a link after an edit or forge
an appended entry.

Logs written before links were keyed (migration 0026) keep their unkeyed SHA-256 links: such
a *legacy* prefix is accepted only before the first keyed entry, which the migration appends
as a seal (its MAC covers the legacy chain's last hash), and a non-empty chain must end with
a keyed entry, so turning keyed entries into unkeyed ones is detected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from safehold import keys

GENESIS = "0" * 64
HKDF_INFO = b"safehold/audit/link/v1"
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

    The unkeyed links of logs before migration 0026 were computed inside the database from
    these two parts (``legacy_link_hash`` still checks them). Sorted keys put
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


def derive_key(index_key: bytes) -> bytes:
    """The audit key: HKDF-SHA256(the key provider's index key, info=HKDF_INFO), 32 bytes,
    derived like every other provider-held MAC key (``safehold.keys``), never stored."""
    return keys.derive(index_key, HKDF_INFO)


def legacy_link_hash(prev_hash: str, entry: EntryData) -> str:
    """The unkeyed link of logs written before migration 0026: SHA-256 over
    ``prev + before + str(seq) + after`` (only verified, never written any more)."""
    before, after = link_text_parts(entry)
    return hashlib.sha256(f"{prev_hash}{before}{entry.seq}{after}".encode()).hexdigest()


def link_hash(key: bytes, chain_id: int, prev_hash: str, entry: EntryData) -> str:
    """The keyed link: HMAC-SHA256(audit key, ``chain:prev + before + str(seq) + after``)."""
    before, after = link_text_parts(entry)
    text = f"{chain_id}:{prev_hash}{before}{entry.seq}{after}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first broken place: ``seq`` is the position on chain ``chain`` (not the row's
    ``seq``, which numbers entries across chains)."""

    seq: int
    reason: str
    chain: int = 0
    place: str | None = None  # a place that is no chain position (a checkpoint, a file line)

    @property
    def where(self) -> str:
        return self.place or f"chain {self.chain}, position {self.seq}"


def heads_digest(heads: Mapping[int, tuple[int, str]]) -> str:
    """One hash naming every chain's head: SHA-256 over ``chain:position:hash`` lines, in
    chain order (what ``safehold audit verify`` prints to copy elsewhere)."""
    lines = "".join(f"{c}:{pos}:{h}\n" for c, (pos, h) in sorted(heads.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    checked: int
    head_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


KeyLookup = Callable[[int], "bytes | None"]  # an audit key version -> its key, if readable


def verify(
    entries: Iterable[tuple[EntryData, str, str, int]],
    head: tuple[int, str] | None,
    *,
    key: bytes | KeyLookup,
    chain_id: int = 0,
) -> Verification:
    """Walk ``(entry, prev_hash, hash, key version)`` of one chain in seq order; name the
    first broken link. ``key`` gives each version's key (a bare key: version 0 only).

    Every link must be the keyed one, except an unkeyed (legacy) prefix before the first keyed
    entry; a non-empty chain must end with a keyed entry. ``head`` is the stored
    (last_seq, last_hash): it catches entries cut off the end by someone who left it alone."""
    lookup: KeyLookup = key if callable(key) else {0: key}.get
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    keyed_seen = False
    version, version_key = -1, None
    for entry, prev_hash, stored_hash, entry_version in entries:
        if entry.seq != expected_seq:
            what = "missing" if entry.seq > expected_seq else "duplicated or reordered"
            return Verification(checked, expected_prev, Break(expected_seq, f"entry {what}"))
        if prev_hash != expected_prev:
            return Verification(checked, expected_prev, Break(entry.seq, "previous-hash mismatch"))
        if entry_version != version:
            version, version_key = entry_version, lookup(entry_version)
        if version_key is None:
            reason = f"keyed by audit key version {version}, which cannot be read"
            return Verification(checked, expected_prev, Break(entry.seq, reason))
        if hmac.compare_digest(link_hash(version_key, chain_id, prev_hash, entry), stored_hash):
            keyed_seen = True
        elif keyed_seen or version or legacy_link_hash(prev_hash, entry) != stored_hash:
            return Verification(checked, expected_prev, Break(entry.seq, "entry altered"))
        expected_prev, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    if checked and not keyed_seen:
        return Verification(
            checked, expected_prev, Break(1, "no entry is keyed: the chain was rewritten")
        )
    if head is not None and (head[0] != expected_seq - 1 or head[1] != expected_prev):
        return Verification(
            checked, expected_prev, Break(expected_seq, "entries missing after the last one")
        )
    return Verification(checked, expected_prev, None)
