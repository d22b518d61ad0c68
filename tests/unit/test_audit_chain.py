"""The audit chain: any edit, deletion, reordering or insertion is detected, every time, and
links recomputed without the audit key are too."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.access import chain

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32  # a fictional audit key
Link = tuple[chain.EntryData, str, str]


def build(n: int, *, legacy: int = 0) -> list[Link]:
    """``n`` entries, the first ``legacy`` of them linked the unkeyed (pre-0026) way."""
    links: list[Link] = []
    prev = chain.GENESIS
    for seq in range(1, n + 1):
        data = chain.EntryData(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor=f"api_key:key{seq % 3}",
            action="subject.read",
            subject_id=f"00000000-0000-4000-8000-{seq:012d}",
            categories=("account.email", "account.name"),
            purpose="service_provision",
            outcome="allowed",
            request_id=f"req{seq}",
        )
        if seq <= legacy:
            digest = chain.legacy_link_hash(prev, data)
        else:
            digest = chain.link_hash(KEY, 0, prev, data)
        links.append((data, prev, digest))
        prev = digest
    return links


def v0(links: list[Link]) -> list[tuple[chain.EntryData, str, str, int]]:
    """The links as verify walks them: each keyed by audit key version 0."""
    return [(data, prev, digest, 0) for data, prev, digest in links]


def head(links: list[Link]) -> tuple[int, str]:
    return (len(links), links[-1][2] if links else chain.GENESIS)


def test_an_intact_chain_verifies() -> None:
    links = build(20)
    result = chain.verify(v0(links), head(links), key=KEY)
    assert result.ok
    assert result.checked == 20
    assert result.head_hash == links[-1][2]


def test_empty_chain_verifies() -> None:
    assert chain.verify(v0([]), (0, chain.GENESIS), key=KEY).ok


def test_the_hash_covers_every_field() -> None:
    data = build(1)[0][0]
    base = chain.link_hash(KEY, 0, chain.GENESIS, data)
    changes = {
        "seq": 2, "at": T0, "actor": "admin:x", "action": "subject.write",
        "subject_id": None, "categories": ("account.phone",), "purpose": None,
        "outcome": "refused", "request_id": None,
    }  # fmt: skip
    for name, value in changes.items():
        changed = dataclasses.replace(data, **{name: value})
        assert chain.link_hash(KEY, 0, chain.GENESIS, changed) != base
    assert chain.link_hash(KEY, 0, "1" * 64, data) != base
    assert chain.link_hash(KEY, 1, chain.GENESIS, data) != base  # the chain's number
    assert chain.link_hash(b"x" * 32, 0, chain.GENESIS, data) != base  # the key


TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ['"seq":1', '","seq":', "\\", '"}', "\u00e9\u4e2d\U0001f600", "\n"]
)


@given(
    st.integers(1, 2**62), st.datetimes(timezones=st.just(UTC)), TEXT, TEXT,
    st.none() | TEXT, st.lists(TEXT, max_size=4), st.none() | TEXT, TEXT, st.none() | TEXT,
)  # fmt: skip
def test_the_split_encoding_is_the_whole_entry_encoding(
    seq: int, at: datetime, actor: str, action: str, subject_id: str | None,
    categories: list[str], purpose: str | None, outcome: str, request_id: str | None,
) -> None:  # fmt: skip
    """A link covers ``prev + before + str(seq) + after``: that text must be exactly the
    canonical JSON of the whole entry (sorted keys, ASCII), whatever the values hold."""
    data = chain.EntryData(
        seq, at, actor, action, subject_id, tuple(categories), purpose, outcome, request_id
    )
    whole = {
        "seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
        "action": action, "subject_id": subject_id, "categories": sorted(categories),
        "purpose": purpose, "outcome": outcome, "request_id": request_id,
    }  # fmt: skip
    encoded = json.dumps(whole, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert chain.canonical(data) == encoded.encode()
    before, after = chain.link_text_parts(data)
    text = f"{chain.GENESIS}{before}{seq}{after}"
    assert text.isascii()
    covered = chain.GENESIS.encode() + b"\n" + encoded.encode()
    assert chain.legacy_link_hash(chain.GENESIS, data) == hashlib.sha256(covered).hexdigest()
    keyed = hmac.new(KEY, b"0:" + covered, hashlib.sha256).hexdigest()
    assert chain.link_hash(KEY, 0, chain.GENESIS, data) == keyed


FIELDS = ["actor", "action", "purpose", "outcome", "request_id"]


@given(st.integers(2, 30), st.data())
def test_any_edit_is_detected_at_the_edited_entry(n: int, data: st.DataObject) -> None:
    links = build(n)
    i = data.draw(st.integers(0, n - 1))
    name = data.draw(st.sampled_from(FIELDS))
    entry, prev, digest = links[i]
    links[i] = (dataclasses.replace(entry, **{name: "tampered"}), prev, digest)
    result = chain.verify(v0(links), head(build(n)), key=KEY)
    assert result.broken is not None
    assert result.broken.seq == i + 1


@given(st.integers(2, 30), st.data())
def test_any_deletion_is_detected(n: int, data: st.DataObject) -> None:
    original = build(n)
    links = list(original)
    i = data.draw(st.integers(0, n - 1))
    del links[i]
    result = chain.verify(v0(links), head(original), key=KEY)
    assert result.broken is not None
    assert result.broken.seq == i + 1


@given(st.integers(3, 30), st.data())
def test_any_reordering_is_detected(n: int, data: st.DataObject) -> None:
    original = build(n)
    links = list(original)
    i = data.draw(st.integers(0, n - 2))
    j = data.draw(st.integers(i + 1, n - 1))
    links[i], links[j] = links[j], links[i]
    result = chain.verify(v0(links), head(original), key=KEY)
    assert result.broken is not None
    assert result.broken.seq == i + 1


@given(st.integers(1, 30), st.data())
def test_any_insertion_is_detected_even_with_a_recomputed_hash(n: int, data: st.DataObject) -> None:
    original = build(n)
    links = list(original)
    i = data.draw(st.integers(0, n))
    prev = links[i - 1][2] if i else chain.GENESIS
    forged = dataclasses.replace(original[0][0], seq=i + 1, actor="admin:forger")
    links.insert(i, (forged, prev, chain.link_hash(KEY, 0, prev, forged)))
    result = chain.verify(v0(links), head(original), key=KEY)
    assert result.broken is not None
    assert result.broken.seq <= i + 2


def test_entries_cut_off_the_end_are_detected_by_the_head() -> None:
    original = build(10)
    result = chain.verify(v0(original[:7]), head(original), key=KEY)
    assert result.broken is not None
    assert result.broken.reason == "entries missing after the last one"


def test_a_sealed_legacy_prefix_verifies() -> None:
    links = build(8, legacy=5)
    result = chain.verify(v0(links), head(links), key=KEY)
    assert result.ok
    assert result.checked == 8


def test_an_edit_in_the_legacy_prefix_is_detected() -> None:
    links = build(8, legacy=5)
    entry, prev, digest = links[2]
    links[2] = (dataclasses.replace(entry, outcome="tampered"), prev, digest)
    assert chain.verify(v0(links), head(links), key=KEY).broken == chain.Break(3, "entry altered")


def test_the_legacy_prefix_recomputed_breaks_at_the_seal() -> None:
    """Rewriting the unkeyed prefix changes its last hash, which the keyed seal covers."""
    links = build(8, legacy=5)
    prev = chain.GENESIS
    for i in range(5):
        entry = dataclasses.replace(links[i][0], actor="admin:forger")
        links[i] = (entry, prev, chain.legacy_link_hash(prev, entry))
        prev = links[i][2]
    seal, _, digest = links[5]
    links[5] = (seal, prev, digest)
    assert chain.verify(v0(links), head(links), key=KEY).broken == chain.Break(6, "entry altered")


def test_an_unkeyed_entry_after_a_keyed_one_is_detected() -> None:
    links = build(6, legacy=2)
    entry, prev, _ = links[4]
    links[4] = (entry, prev, chain.legacy_link_hash(prev, entry))
    entry5, _, _ = links[5]
    links[5] = (entry5, links[4][2], chain.link_hash(KEY, 0, links[4][2], entry5))
    assert chain.verify(v0(links), head(links), key=KEY).broken == chain.Break(5, "entry altered")


def test_a_chain_with_no_keyed_entry_is_rewritten() -> None:
    links = build(4, legacy=4)
    result = chain.verify(v0(links), head(links), key=KEY)
    assert result.broken == chain.Break(1, "no entry is keyed: the chain was rewritten")


def test_another_chain_number_does_not_verify() -> None:
    links = build(3)
    assert chain.verify(v0(links), head(links), key=KEY, chain_id=1).broken == chain.Break(
        1, "entry altered"
    )


def test_the_audit_key_is_derived_from_the_index_key_under_its_own_label() -> None:
    index = b"i" * 32
    assert chain.derive_key(index) != chain.derive_key(b"j" * 32)
    assert chain.derive_key(index) != index
    assert len(chain.derive_key(index)) == 32


def test_each_entry_is_checked_with_the_key_version_it_names() -> None:
    """Entries keyed by a rotated version verify with that version's key; relabelling an
    entry's version, or a version nobody can read, is a break at that entry."""
    rotated = b"r" * 32
    links = build(6)
    walked = v0(links)
    prev = links[-1][2]
    for seq in (7, 8):
        data = dataclasses.replace(links[0][0], seq=seq)
        digest = chain.link_hash(rotated, 0, prev, data)
        walked.append((data, prev, digest, 1))
        prev = digest
    keys = {0: KEY, 1: rotated}.get
    assert chain.verify(walked, (8, prev), key=keys).ok
    relabelled = [*walked[:3], (*walked[3][:3], 1), *walked[4:]]
    assert chain.verify(relabelled, (8, prev), key=keys).broken == chain.Break(4, "entry altered")
    unreadable = chain.verify(walked, (8, prev), key={0: KEY}.get).broken
    assert unreadable is not None
    assert (unreadable.seq, unreadable.reason) == (
        7,
        "keyed by audit key version 1, which cannot be read",
    )
