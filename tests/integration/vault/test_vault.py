"""Data keys, field encryption and crypto-shredding against a real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from safehold.clock import FrozenClock
from safehold.errors import Gone
from safehold.vault import rules
from safehold.vault.errors import DataKeyDestroyed, DecryptionFailed
from safehold.vault.keyring import KeyRing
from safehold.vault.models import DataKey
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault

STANDARD, TAX = "standard", "tax_records"
EMAIL = "ada.lovelace@example.com"


def keys_of(session: Session, subject_id: uuid.UUID) -> list[DataKey]:
    query = select(DataKey).where(DataKey.subject_id == subject_id)
    return list(session.scalars(query.order_by(DataKey.retention_class)))


def test_a_data_key_is_created_once_wrapped_and_found_again(
    session: Session, vault: Vault, provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    ada = uuid.uuid4()
    dek = vault.data_key(session, ada, STANDARD, create=True)
    assert len(dek) == 32
    assert vault.data_key(session, ada, STANDARD, create=True) == dek
    (row,) = keys_of(session, ada)
    assert row.kek_version == "v1"
    assert dek not in row.wrapped_key
    assert row.created_at == clock.now()
    session.expunge_all()
    fresh = Vault(provider, clock)  # another process: empty cache, unwraps from the row
    assert fresh.data_key(session, ada, STANDARD, create=False) == dek


def test_without_create_a_missing_key_reads_as_erased(session: Session, vault: Vault) -> None:
    with pytest.raises(DataKeyDestroyed) as caught:
        vault.data_key(session, uuid.uuid4(), STANDARD, create=False)
    assert isinstance(caught.value, Gone)  # HTTP 410: it existed and was erased
    assert caught.value.code == "data_erased"
    assert caught.value.details == {"retention_class": STANDARD}


def test_fields_round_trip_and_ciphertexts_hold_no_plaintext(
    session: Session, vault: Vault
) -> None:
    ada = uuid.uuid4()
    values = {"email": EMAIL, "name": "Ada Lovelace", "city": "Zürich ☂"}
    blobs = {f: vault.encrypt(session, ada, STANDARD, "account", f, v) for f, v in values.items()}
    for field, blob in blobs.items():
        assert vault.decrypt(session, ada, STANDARD, "account", field, blob) == values[field]
        for needle in (values[field], "Lovelace", "ada", "Zürich"):
            assert needle.encode() not in blob
    with pytest.raises(DecryptionFailed):
        vault.decrypt(session, ada, STANDARD, "account", "name", blobs["email"])


def test_people_have_different_keys_and_cannot_read_each_other(
    session: Session, vault: Vault
) -> None:
    ada, grace = uuid.uuid4(), uuid.uuid4()
    blob = vault.encrypt(session, ada, STANDARD, "account.email", "email", EMAIL)
    vault.encrypt(session, grace, STANDARD, "account.email", "email", "grace@example.net")
    ada_key = vault.data_key(session, ada, STANDARD, create=False)
    assert vault.data_key(session, grace, STANDARD, create=False) != ada_key
    with pytest.raises(DecryptionFailed):
        vault.decrypt(session, grace, STANDARD, "account.email", "email", blob)


def test_a_wrapped_key_copied_to_another_person_does_not_unwrap(
    session: Session, provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    ada, grace = uuid.uuid4(), uuid.uuid4()
    vault = Vault(provider, clock)
    vault.data_key(session, ada, STANDARD, create=True)
    vault.data_key(session, grace, STANDARD, create=True)
    (ada_row,) = keys_of(session, ada)
    session.execute(
        update(DataKey).where(DataKey.subject_id == grace).values(wrapped_key=ada_row.wrapped_key)
    )
    session.expunge_all()
    with pytest.raises(DecryptionFailed):
        Vault(provider, clock).data_key(session, grace, STANDARD, create=False)


def test_after_shredding_reads_are_erased_and_the_keys_are_gone(
    session: Session, vault: Vault
) -> None:
    ada, grace = uuid.uuid4(), uuid.uuid4()
    blob = vault.encrypt(session, ada, STANDARD, "account.email", "email", EMAIL)
    tax_blob = vault.encrypt(session, ada, TAX, "account.payment", "last4", "4242")
    kept = vault.encrypt(session, grace, STANDARD, "account.email", "email", "grace@example.net")
    assert vault.shred(session, ada) == [STANDARD, TAX]
    assert keys_of(session, ada) == []
    assert len(vault.cache) == 1  # only Grace's key is still in memory
    for retention_class, category, field, value in [
        (STANDARD, "account.email", "email", blob),
        (TAX, "account.payment", "last4", tax_blob),
    ]:
        with pytest.raises(DataKeyDestroyed, match="erased"):
            vault.decrypt(session, ada, retention_class, category, field, value)
    assert vault.decrypt(session, grace, STANDARD, "account.email", "email", kept)
    assert vault.shred(session, ada) == []  # idempotent


def test_shredding_one_retention_class_leaves_the_other_readable(
    session: Session, vault: Vault
) -> None:
    ada = uuid.uuid4()
    blob = vault.encrypt(session, ada, STANDARD, "account.email", "email", EMAIL)
    invoice = vault.encrypt(session, ada, TAX, "account.payment", "last4", "4242")
    assert vault.shred(session, ada, [STANDARD, "never_used"]) == [STANDARD]
    assert [k.retention_class for k in keys_of(session, ada)] == [TAX]
    with pytest.raises(DataKeyDestroyed):
        vault.decrypt(session, ada, STANDARD, "account.email", "email", blob)
    assert vault.decrypt(session, ada, TAX, "account.payment", "last4", invoice) == "4242"
    assert vault.shred(session, ada, []) == []


def test_a_shredded_key_is_not_served_from_another_process_cache(
    session: Session, provider: MemoryKeyProvider, clock: FrozenClock
) -> None:
    ada = uuid.uuid4()
    api_worker, admin = Vault(provider, clock), Vault(provider, clock)
    blob = api_worker.encrypt(session, ada, STANDARD, "account.email", "email", EMAIL)
    admin.shred(session, ada)
    assert len(api_worker.cache) == 1  # the other process still holds it in memory…
    with pytest.raises(DataKeyDestroyed):  # …but the row decides
        api_worker.decrypt(session, ada, STANDARD, "account.email", "email", blob)


def test_new_data_after_shredding_gets_a_new_key(session: Session, vault: Vault) -> None:
    ada = uuid.uuid4()
    old = vault.data_key(session, ada, STANDARD, create=True)
    vault.shred(session, ada)
    assert vault.data_key(session, ada, STANDARD, create=True) != old


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection, "before_cursor_execute", record)


@pytest.mark.parametrize("classes", [None, [STANDARD, TAX]])
def test_shredding_is_one_delete_whatever_the_amount_of_data(
    session: Session, vault: Vault, statements: list[str], classes: list[str] | None
) -> None:
    light, heavy = uuid.uuid4(), uuid.uuid4()
    vault.encrypt(session, light, STANDARD, "account.email", "email", EMAIL)
    for n in range(300):
        vault.encrypt(session, heavy, STANDARD, "usage.action", f"event{n}", f"played {n}")
        vault.encrypt(session, heavy, TAX, "account.payment", f"invoice{n}", f"{n}.00")
    session.flush()
    costs = []
    for subject in (light, heavy):
        statements.clear()
        vault.shred(session, subject, classes)
        costs.append(list(statements))
    for issued in costs:
        assert len(issued) == 1
        assert issued[0].lstrip().upper().startswith("DELETE FROM DATA_KEYS")


def test_a_lost_creation_race_uses_the_winners_key(
    session: Session, sessions: sessionmaker[Session], clock: FrozenClock
) -> None:
    """Two requests create a person's first key at once: the loser's insert conflicts, its
    savepoint rolls back, and it reads the winner's key; its transaction stays usable."""
    ada = uuid.uuid4()
    ring = KeyRing.generate()
    inner = MemoryKeyProvider(ring)
    winner: list[bytes] = []

    class RacingProvider(MemoryKeyProvider):
        def wrap(self, version: str, dek: bytes, aad: bytes) -> bytes:
            if not winner:  # the other request commits its key between our read and insert
                with sessions() as other, other.begin():
                    winner.append(Vault(inner, clock).data_key(other, ada, STANDARD, create=True))
            return inner.wrap(version, dek, aad)

    loser = Vault(RacingProvider(ring), clock)
    assert loser.data_key(session, ada, STANDARD, create=True) == winner[0]
    assert len(keys_of(session, ada)) == 1
    blob = loser.encrypt(session, ada, STANDARD, "account.name", "name", "Ada")
    assert Vault(inner, clock).decrypt(session, ada, STANDARD, "account.name", "name", blob)


def test_blind_indexes_find_people_without_storing_the_address(vault: Vault) -> None:
    typed = vault.email_index("  Ada.Lovelace@Example.com ")
    assert typed == vault.email_index(EMAIL)
    assert typed == rules.blind_index(vault.provider.index_key(), "email", EMAIL)
    assert EMAIL not in typed
    assert vault.index("phone", "+441632960961") != vault.index("email", "+441632960961")
