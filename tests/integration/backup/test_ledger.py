"""The erasure ledger: written by every shred before its commit, voided by a rollback,
refused when damaged, and holding ids, classes and times only."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from safehold import migrate
from safehold.backup.ledger import Ledger, LedgerError, new_entry
from safehold.clock import FrozenClock
from safehold.db import make_engine, make_session_factory, transaction
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault
from tests.conftest import FROZEN_AT, TEST_AUDIT_KEY


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("ledger") / "safehold.db"
    made = make_engine(make_url(f"sqlite+pysqlite:///{path}"))
    migrate.upgrade(made)
    yield made
    made.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine, audit_key=TEST_AUDIT_KEY)


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(MemoryKeyProvider(), FrozenClock(FROZEN_AT), ledger=Ledger(tmp_path / "l.jsonl"))


def _keyed(sessions: sessionmaker[Session], vault: Vault, *classes: str) -> uuid.UUID:
    sid = uuid.uuid4()
    with transaction(sessions) as session:
        for klass in classes:
            vault.data_key(session, sid, klass, create=True)
    return sid


def test_a_committed_shred_is_in_the_ledger_with_ids_and_classes_only(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    sid = _keyed(sessions, vault, "account_contact", "usage_events")
    with transaction(sessions) as session:
        vault.shred(session, sid, ["account_contact"], ref="request-1")
    assert vault.ledger is not None
    (entry,) = vault.ledger.read().entries
    assert (entry.kind, entry.subject_id, entry.classes, entry.ref) == (
        "erasure", sid, ("account_contact",), "request-1"
    )  # fmt: skip
    line = json.loads(vault.ledger.path.read_text())
    assert set(line) == {"format", "id", "at", "kind", "subject_id", "classes", "ref"}
    assert oct(vault.ledger.path.stat().st_mode & 0o777) == "0o600"


def test_a_rolled_back_shred_is_voided(sessions: sessionmaker[Session], vault: Vault) -> None:
    sid = _keyed(sessions, vault, "account_contact")

    def failing_step() -> None:
        with transaction(sessions) as session:
            vault.shred(session, sid, None)
            raise RuntimeError("the step failed after the shred")

    with pytest.raises(RuntimeError):
        failing_step()
    assert vault.ledger is not None
    contents = vault.ledger.read()
    assert (contents.entries, contents.voided) == ((), 1)
    with sessions() as session:  # the key is still there, and nothing says it is not
        assert vault.data_key(session, sid, "account_contact", create=False)


def test_a_retention_shred_that_destroyed_nothing_is_not_written(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with transaction(sessions) as session:
        assert vault.shred(session, uuid.uuid4(), ["usage_events"], why="retention") == []
    assert vault.ledger is not None
    assert vault.ledger.read().entries == ()


def test_a_damaged_ledger_is_refused_not_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.jsonl")
    entry = new_entry(at=FROZEN_AT, kind="erasure", subject_id=uuid.uuid4(), classes=None, ref=None)
    ledger.append(None, entry)
    with ledger.path.open("a") as handle:
        handle.write('{"format": "safehold-erasure-ledger/1", "kind": "erasure", "id"\n')
    with pytest.raises(LedgerError, match="line 2"):
        ledger.read()


def test_appends_from_many_threads_stay_whole_lines(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.jsonl")

    def write() -> None:
        for _ in range(50):
            made = new_entry(
                at=FROZEN_AT, kind="retention", subject_id=uuid.uuid4(), classes=["a"], ref=None
            )
            ledger.append(None, made)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ledger.read().entries) == 200


def test_a_void_that_cannot_be_written_leaves_the_entry_and_the_rollback_whole(
    sessions: sessionmaker[Session], vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = _keyed(sessions, vault, "account_contact")

    def full_disk(_self: Ledger, _ids: object) -> None:
        raise LedgerError("cannot append to the erasure ledger: No space left on device")

    monkeypatch.setattr(Ledger, "void", full_disk)

    def failing_step() -> None:
        with transaction(sessions) as session:
            vault.shred(session, sid, None)
            raise RuntimeError("the step failed after the shred")

    with pytest.raises(RuntimeError, match="the step failed"):  # the original error
        failing_step()
    assert vault.ledger is not None
    assert [e.subject_id for e in vault.ledger.read().entries] == [sid]  # stands: conservative
    with sessions() as session:
        assert vault.data_key(session, sid, "account_contact", create=False)
