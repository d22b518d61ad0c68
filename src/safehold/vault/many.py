"""Many data keys at once: what ``Vault.data_key(…, create=True)`` does for one (person,
class) pair, for a whole batch in three statements however many pairs — one read of the
rows the transaction does not hold yet, one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` of
the keys to create, and one read of the few a concurrent creator made first. Ingestion asks
it once per batch: a person's first batch used to create their key with a savepoint and a
flush of its own (decision 0045, "What is left")."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safehold.vault import epochs, rules
from safehold.vault.models import DataKey
from safehold.vault.service import Vault

_KEYS: Table = DataKey.__table__  # type: ignore[assignment]
Pair = tuple[uuid.UUID, str]


def data_keys(vault: Vault, session: Session, pairs: Iterable[Pair]) -> dict[Pair, bytes]:
    """The data key of every (person, retention class) in ``pairs``, created where there is
    none. The rows read stay held for the transaction, as :meth:`Vault.data_key` holds them."""
    wanted = sorted(set(pairs))
    held = Vault._held(session)  # the vault's own rows of this transaction
    unknown = [pair for pair in wanted if pair not in held]
    if unknown:
        query = select(DataKey).where(
            tuple_(DataKey.subject_id, DataKey.retention_class).in_(unknown)
        )
        for row in session.scalars(query):
            held[(row.subject_id, row.retention_class)] = row
    keys = {
        pair: vault.unwrapped(*pair, held[pair].kek_version, held[pair].wrapped_key)
        for pair in wanted
        if pair in held
    }
    missing = [pair for pair in wanted if pair not in keys]
    if missing:
        keys |= create(vault, session, missing)
    return keys


def create(vault: Vault, session: Session, pairs: list[Pair]) -> dict[Pair, bytes]:
    """New data keys for ``pairs``, known to have none a moment ago, in one statement; where
    a concurrent creator made one first, theirs."""
    now, made = vault.clock.now(), {}
    rows = []
    for subject_id, retention_class in pairs:
        dek = rules.new_key()
        # An epoch's data keys are wrapped by the epoch's own KEK (opened by Epochs.key_class).
        version = (
            retention_class
            if epochs.is_epoch(retention_class)
            else vault.provider.current_version()
        )
        wrapped = vault.provider.wrap(version, dek, rules.key_aad(subject_id, retention_class))
        made[(subject_id, retention_class)] = (version, wrapped, dek)
        rows.append(
            {"subject_id": subject_id, "retention_class": retention_class,
             "kek_version": version, "wrapped_key": wrapped, "created_at": now}
        )  # fmt: skip
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = (
        dialect.insert(_KEYS)
        .on_conflict_do_nothing(index_elements=["subject_id", "retention_class"])
        .returning(_KEYS.c.subject_id, _KEYS.c.retention_class)
    )
    # No savepoint needed: a key a concurrent creator made first is skipped, not an error.
    created = {(row[0], row[1]) for row in session.execute(statement, rows)}
    keys: dict[Pair, bytes] = {}
    held = Vault._held(session)
    for pair in pairs:
        version, wrapped, dek = made[pair]
        if pair in created:
            held[pair] = DataKey(subject_id=pair[0], retention_class=pair[1], kek_version=version,
                                 wrapped_key=wrapped, created_at=now)  # fmt: skip
            vault.cache.put(pair, wrapped, dek)
            keys[pair] = dek
        else:  # a concurrent creator's key won: use theirs
            keys[pair] = vault.data_key(session, *pair, create=False)
    return keys
