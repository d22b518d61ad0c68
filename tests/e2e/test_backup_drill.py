"""The restore drill, on SQLite and PostgreSQL: back up → register people, ingest events →
erase one → restore the backup → the erased person stays erased (410, no data key, their
certificate's statements still true), everyone else intact, the audit log records it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from safehold import migrate
from safehold.access import audit
from safehold.access import service as access
from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.app import create_app
from safehold.backup import archive, replay, restore
from safehold.backup.ledger import Ledger
from safehold.client import new_event_id
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import make_engine, make_session_factory, transaction
from safehold.events import storage
from safehold.policy import load_policy
from safehold.requests import jobs as request_jobs
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.subjects.models import PersonalValue
from safehold.vault.keyring import KeyRing
from safehold.vault.models import DataKey
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault
from tests.conftest import DEFAULT_POLICY, FROZEN_AT, TEST_AUDIT_KEY
from tests.integration.requests.support import STAFF, ctx, person, verified

NewDatabase = Callable[[], URL]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> NewDatabase:
    """A factory of empty databases of one kind (committed data: no rolled-back test)."""
    if request.param == "postgresql":
        make: NewDatabase = request.getfixturevalue("scratch_postgres")
        return make
    counter = iter(range(1_000))
    return lambda: make_url(f"sqlite+pysqlite:///{tmp_path}/db{next(counter)}/safehold.db")


class Site:
    """One Safehold installation: its database, and the keys and ledger shared by all."""

    def __init__(self, url: URL, data_dir: Path, ring: KeyRing, clock: FrozenClock) -> None:
        self.engine = make_engine(url)
        self.app: Any = None
        self.ring = ring
        settings = Settings(data_dir=data_dir, policy=DEFAULT_POLICY)
        self.ledger = Ledger(data_dir / "keys" / "erasure-ledger.jsonl")
        self.runtime = Runtime(
            settings=settings, engine=self.engine,
            sessions=make_session_factory(self.engine, audit_key=TEST_AUDIT_KEY),
            policy=load_policy(DEFAULT_POLICY),
            vault=Vault(MemoryKeyProvider(ring), clock, ledger=self.ledger), clock=clock,
        )  # fmt: skip

    def client(self) -> TestClient:
        if self.app is None:
            self.app = create_app(self.runtime)  # once: it registers its metrics
        return TestClient(self.app, raise_server_exceptions=False)

    def token(self, scopes: list[str], purposes: list[str]) -> dict[str, str]:
        with transaction(self.runtime.sessions) as session:
            made = access.create_key(
                session, name="drill", scopes=scopes, purposes=purposes,
                known_purposes=self.runtime.policy.purpose_ids, clock=self.runtime.clock,
                actor=Actor("admin", "drill"),
            )  # fmt: skip
        return {"Authorization": f"Bearer {made.token}"}

    def restored_from(self, folder: Path) -> restore.Restored:
        """Load the backup in ``folder`` into this (empty) site and bring it up to the ledger,
        as `safehold backup restore` does; the restore's report, checked to be clean."""
        backup = archive.load(folder)
        restore.load_database(backup, self.engine)
        done = restore.bring_up_to_ledger(
            backup, self.engine, self.runtime.sessions, ledger=self.ledger,
            policy=self.runtime.policy, clock=self.runtime.clock, audit_key=TEST_AUDIT_KEY,
        )  # fmt: skip
        assert done.ok, done.problems
        return done

    def keys(self, subject_id: uuid.UUID) -> list[str]:
        with self.runtime.sessions() as session:
            query = select(DataKey.retention_class).where(DataKey.subject_id == subject_id)
            return sorted(session.scalars(query))

    def events(self, subject_id: uuid.UUID) -> int:
        with self.runtime.sessions() as session:
            every = storage.EVENTS  # the parent (PostgreSQL), the view (SQLite)
            mine = every.c.subject_id == subject_id
            counted = select(func.count()).select_from(every).where(mine)
            return int(session.scalar(counted) or 0)

    def actions(self) -> list[str]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


@pytest.fixture
def site(new_database: NewDatabase, tmp_path: Path) -> Iterator[Site]:
    clock = FrozenClock(FROZEN_AT)
    made = Site(new_database(), tmp_path / "var", KeyRing.generate(), clock)
    migrate.upgrade(made.engine)
    yield made
    made.engine.dispose()


def take_backup(site: Site, tmp_path: Path) -> archive.Backup:
    now = site.runtime.clock.now()
    return archive.create(
        site.engine, tmp_path / "backups", now=now, keys="test ring", ledger=site.ledger.path
    )


def classes(keys: list[str]) -> set[str]:
    """The retention classes of data-key classes: a month epoch's is its class's."""
    return {k.partition("@")[0] for k in keys}


def ingest(site: Site, people: list[uuid.UUID], per_person: int) -> None:
    sender = site.token(["events:write"], [])
    now = site.runtime.clock.now()
    events: list[dict[str, Any]] = [
        {
            "event_id": str(new_event_id()),
            "subject_id": str(sid),
            "name": "channel.play",
            "timestamp": (now - timedelta(minutes=n + 1)).isoformat(),
            "properties": {"channel_id": f"news-{n}"},
        }
        for sid in people
        for n in range(per_person)
    ]
    body = {"sent_at": now.isoformat(), "context": {"ip": "198.51.100.23"}, "events": events}
    with site.client() as client:
        answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == len(events)


def test_a_restored_backup_keeps_the_erased_person_erased(
    site: Site, new_database: NewDatabase, tmp_path: Path
) -> None:
    early = [person(site.runtime, "Ada"), person(site.runtime, "Brook")]
    ingest(site, early, 3)
    clock = site.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(hours=1))
    backup = take_backup(site, tmp_path)
    assert backup.manifest["people"] == 2
    # The KEK version, and the month key the people's addresses are sealed under (0043).
    assert backup.manifest["kek_versions"] == ["network_ip@2026-03", "v1"]
    assert backup.manifest["schema_revision"] == migrate.current_revision(site.engine)
    assert "key" not in backup.database_file.name

    clock.advance(timedelta(hours=1))
    later = person(site.runtime, "Cyd")  # registered after the backup
    ingest(site, [early[1], later], 2)
    clock.advance(timedelta(hours=1))
    erased = early[0]
    certificate = request_jobs.erase(
        site.runtime.sessions, ctx(site.runtime), verified(site.runtime, erased)
    )
    assert certificate["outcome"] == "completed"
    shredded = set(certificate["erased"]["retention_classes_shredded"])
    assert shredded
    assert shredded.isdisjoint(classes(site.keys(erased)))
    held = site.keys(erased)  # classes kept (legal obligation, the completion e-mail)
    assert [e.subject_id for e in site.ledger.read().entries] == [erased]

    # Restore into an empty database of the same kind, with the same keys and ledger.
    clock.advance(timedelta(hours=1))
    copy = Site(new_database(), site.runtime.settings.data_dir, site.ring, clock)  # same keys
    restore.load_database(archive.load(backup.folder), copy.engine)
    with transaction(copy.runtime.sessions) as session:  # as restored: behind the ledger
        assert [e.subject_id for e in replay.outstanding(session, copy.ledger.read().entries)] == [
            erased
        ]
    # The backup holds the keys erasure destroyed (a month's key counts as its class).
    assert shredded <= classes(copy.keys(erased))
    done = restore.bring_up_to_ledger(
        archive.load(backup.folder), copy.engine, copy.runtime.sessions, ledger=copy.ledger,
        policy=copy.runtime.policy, clock=clock, audit_key=TEST_AUDIT_KEY,
    )  # fmt: skip
    assert done.ok, done.problems
    assert (done.replayed.erasures, done.replayed.retention_shreds) == (1, 0)
    assert (done.people, done.erased_people) == (2, 1)

    # The erased person: 410, no data key, no events, what the certificate says still true.
    reader = copy.token(["subjects:read"], ["service_provision"])
    with copy.client() as client:
        gone = client.get(f"/v1/subjects/{erased}?purpose=service_provision", headers=reader)
        assert gone.status_code == 410, gone.text
        other = client.get(f"/v1/subjects/{early[1]}?purpose=service_provision", headers=reader)
        assert other.status_code == 200, other.text
        assert "Brook Example" in other.text
    assert set(copy.keys(erased)) <= set(held)  # kept classes only: the shredded have no key
    assert shredded.isdisjoint(classes(copy.keys(erased)))
    assert copy.events(erased) == 0
    assert copy.events(early[1]) == 3  # as in the backup: the later events came after it
    with transaction(copy.runtime.sessions) as session:
        assert replay.outstanding(session, copy.ledger.read().entries) == []
        assert audit.verify(session).broken is None
    actions = copy.actions()
    assert actions.index("backup.restore") < actions.index("backup.replay.erasure")
    copy.engine.dispose()


def test_the_drill_reports_a_passing_restore(
    site: Site, new_database: NewDatabase, tmp_path: Path
) -> None:
    people = [person(site.runtime, "Dale"), person(site.runtime, "Eli")]
    ingest(site, people, 2)
    clock = site.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(minutes=5))
    backup = take_backup(site, tmp_path)
    clock.advance(timedelta(minutes=5))
    request_jobs.erase(site.runtime.sessions, ctx(site.runtime), verified(site.runtime, people[1]))
    scratch = make_engine(new_database())
    try:
        done = restore.drill(
            archive.load(backup.folder), scratch,
            make_session_factory(scratch, audit_key=TEST_AUDIT_KEY), ledger=site.ledger,
            policy=site.runtime.policy, clock=clock, audit_key=TEST_AUDIT_KEY, outside=[],
        )  # fmt: skip
    finally:
        scratch.dispose()
    assert done.ok, done.problems
    assert done.replayed.erasures == 1
    assert done.audit_entries > 0


def test_a_retention_shred_after_the_backup_is_replayed(
    site: Site, new_database: NewDatabase, tmp_path: Path
) -> None:
    runtime = site.runtime
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    closing, staying = person(runtime, "Hal"), person(runtime, "Ivy")
    sctx = subjects.Context(runtime.vault, runtime.policy, clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subjects.close(session, sctx, closing, actor=STAFF)
    backup = take_backup(site, tmp_path)
    clock.advance(timedelta(days=91))  # contact details are due 90 days after closure
    retention_jobs.run(runtime)
    assert "account_contact" not in site.keys(closing)
    entries = site.ledger.read().entries
    assert [(e.kind, e.subject_id, e.classes) for e in entries] == [
        ("retention", closing, ("account_contact",))
    ]

    copy = Site(new_database(), runtime.settings.data_dir, site.ring, clock)
    done = copy.restored_from(backup.folder)
    assert (done.replayed.erasures, done.replayed.retention_shreds) == (0, 1)
    assert "account_contact" not in copy.keys(closing)
    assert "account_contact" in copy.keys(staying)
    with copy.runtime.sessions() as session:
        values = session.scalars(
            select(PersonalValue.retention_class).where(PersonalValue.subject_id == closing)
        )
        assert set(values) == {"invoice_records"}  # kept longer for a legal reason
    copy.engine.dispose()
