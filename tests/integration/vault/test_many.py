"""Many data keys in one go (``vault.many``), as ingestion asks for a batch's."""

from __future__ import annotations

import uuid

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from safehold.clock import FrozenClock
from safehold.vault import many
from safehold.vault.models import DataKey
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault

USAGE, EPOCH = "usage_events", "usage_events@2026-03"


def statements(session: Session) -> list[str]:
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute",
                 lambda *a: seen.append(a[2]))  # fmt: skip
    return seen


def test_keys_are_made_once_found_again_and_read_by_the_one_key_path(
    session: Session, vault: Vault, provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    people = [uuid.uuid4() for _ in range(5)]
    pairs = [(p, USAGE) for p in people]
    seen = statements(session)
    made = many.data_keys(vault, session, pairs)
    work = [s for s in seen if not s.startswith(("SAVEPOINT", "RELEASE"))]  # the test's own
    assert len(work) == 2  # one read of what exists, one insert of what did not
    assert work[0].startswith("SELECT")
    assert work[1].startswith("INSERT INTO data_keys")
    assert sorted(made) == sorted(pairs)
    assert len(set(made.values())) == 5
    session.commit()
    fresh = Vault(provider, clock)  # another process: empty cache, unwrapped from the rows
    assert all(fresh.data_key(session, *pair, create=False) == made[pair] for pair in pairs)
    again = many.data_keys(fresh, session, [*pairs, (people[0], USAGE)])
    assert again == made
    rows = session.scalars(select(DataKey).where(DataKey.subject_id.in_(people))).all()
    assert len(rows) == 5
    assert {r.kek_version for r in rows} == {provider.current_version()}


def test_an_epoch_key_is_wrapped_by_its_epoch_and_an_existing_key_is_kept(
    session: Session, vault: Vault, provider: MemoryKeyProvider
) -> None:
    ada, bo = uuid.uuid4(), uuid.uuid4()
    provider.open_epoch(EPOCH)
    first = vault.data_key(session, ada, EPOCH, create=True)
    made = many.data_keys(vault, session, [(ada, EPOCH), (bo, EPOCH)])
    assert made[(ada, EPOCH)] == first  # found, not made again
    (row,) = session.scalars(select(DataKey).where(DataKey.subject_id == bo))
    assert row.kek_version == EPOCH


def test_a_key_a_concurrent_creator_made_first_is_the_one_used(
    session: Session, vault: Vault, provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    ada, bo = uuid.uuid4(), uuid.uuid4()
    theirs = Vault(provider, clock).data_key(session, ada, USAGE, create=True)
    session.flush()
    session.expunge_all()
    # As if another transaction had made Ada's key between this one's read and its insert:
    # the insert skips it (no error, nothing overwritten) and Ada gets the key that exists.
    made = many.create(vault, session, [(ada, USAGE), (bo, USAGE)])
    assert made[(ada, USAGE)] == theirs
    assert made[(bo, USAGE)] != theirs
    assert len(session.scalars(select(DataKey).where(DataKey.subject_id == ada)).all()) == 1
