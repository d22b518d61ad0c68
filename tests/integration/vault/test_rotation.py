"""KEK rotation: every data key re-wrapped in batches, resumable, the data never touched."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.vault.jobs import last_rotation
from safehold.vault.models import DataKey
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault

CLASSES = ("standard", "tax_records")


class Interrupted(Exception):
    """Stands in for a crash, a deploy or Ctrl-C between two batches."""


Stored = list[tuple[uuid.UUID, str, str, bytes]]


def populate(sessions: sessionmaker[Session], vault: Vault, people: int) -> Stored:
    """``people`` people with a value in each retention class: two data keys per person."""
    stored: Stored = []
    with transaction(sessions) as session:
        for n in range(people):
            subject = uuid.uuid4()
            for retention_class in CLASSES:
                value = f"person {n} {retention_class}"
                blob = vault.encrypt(
                    session, subject, retention_class, "account.name", "name", value
                )
                stored.append((subject, retention_class, value, blob))
    return stored


def versions(sessions: sessionmaker[Session]) -> dict[str, int]:
    query = select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)
    with transaction(sessions) as session:
        return {str(version): int(count) for version, count in session.execute(query)}


def wrapped_keys(sessions: sessionmaker[Session]) -> dict[tuple[uuid.UUID, str], bytes]:
    with transaction(sessions) as session:
        rows = session.execute(
            select(DataKey.subject_id, DataKey.retention_class, DataKey.wrapped_key)
        )
        return {(s, c): w for s, c, w in rows}


def assert_all_readable(sessions: sessionmaker[Session], vault: Vault, stored: Stored) -> None:
    with transaction(sessions) as session:
        for subject, retention_class, value, blob in stored:
            assert (
                vault.decrypt(session, subject, retention_class, "account.name", "name", blob)
                == value
            )


def test_rotation_rewraps_every_key_in_batches_and_data_still_decrypts(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    vault = Vault(provider, clock)
    stored = populate(sessions, vault, people=4)  # 8 keys
    before = wrapped_keys(sessions)
    assert provider.add_version() == "v2"
    calls: list[tuple[int, int]] = []
    report = vault.rotate(sessions, batch_size=3, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 8), (6, 8), (8, 8)]
    assert (report.target_version, report.rewrapped, report.batches, report.remaining) == (
        "v2",
        8,
        3,
        0,
    )
    assert versions(sessions) == {"v2": 8}
    with transaction(sessions) as session:
        assert vault.key_versions(session) == {"v2": 8}  # v1 wraps nothing: it can be retired
    after = wrapped_keys(sessions)
    assert after.keys() == before.keys()
    assert all(after[k] != before[k] for k in before)
    assert_all_readable(sessions, vault, stored)
    assert_all_readable(sessions, Vault(provider, clock), stored)  # cold cache: unwraps under v2
    with transaction(sessions) as session:
        finished = last_rotation(session)
        assert finished is not None
        assert (finished.target_version, finished.finished_at, finished.rewrapped) == (
            "v2",
            clock.now(),
            8,
        )


def test_an_interrupted_rotation_keeps_its_batches_and_a_rerun_finishes(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    vault = Vault(provider, clock)
    stored = populate(sessions, vault, people=5)  # 10 keys
    provider.add_version()

    def stop_after_first_batch(done: int, total: int) -> None:
        raise Interrupted(f"{done}/{total}")

    with pytest.raises(Interrupted, match="4/10"):
        vault.rotate(sessions, batch_size=4, progress=stop_after_first_batch)
    assert versions(sessions) == {"v1": 6, "v2": 4}
    assert_all_readable(sessions, Vault(provider, clock), stored)  # mixed versions read fine

    report = vault.rotate(sessions, batch_size=4)
    assert (report.rewrapped, report.batches, report.remaining) == (6, 2, 0)
    assert versions(sessions) == {"v2": 10}
    assert_all_readable(sessions, Vault(provider, clock), stored)


def test_rotating_twice_and_over_several_versions(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    vault = Vault(provider, clock)
    stored = populate(sessions, vault, people=2)
    provider.add_version()
    vault.rotate(sessions)
    stored += populate(sessions, vault, people=1)  # created under v2
    provider.add_version()
    assert versions(sessions) == {"v2": 6}
    report = vault.rotate(sessions, batch_size=500)
    assert (report.target_version, report.rewrapped, report.batches) == ("v3", 6, 1)
    nothing = vault.rotate(sessions)
    assert (nothing.rewrapped, nothing.batches, nothing.remaining) == (0, 0, 0)
    assert_all_readable(sessions, Vault(provider, clock), stored)


def test_rotation_skips_keys_shredded_meanwhile(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    vault = Vault(provider, clock)
    stored = populate(sessions, vault, people=3)
    provider.add_version()
    gone = stored[0][0]

    def shred_someone(_done: int, _total: int) -> None:
        with transaction(sessions) as session:
            vault.shred(session, gone)

    report = vault.rotate(sessions, batch_size=2, progress=shred_someone)
    assert report.remaining == 0
    assert versions(sessions) == {"v2": 4}  # the shredded person's keys were not brought back


def test_batch_size_must_be_positive(
    sessions: sessionmaker[Session], provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Vault(provider, clock).rotate(sessions, batch_size=0)
