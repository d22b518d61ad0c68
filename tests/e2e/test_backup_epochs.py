"""The key-epoch drill, on SQLite and PostgreSQL (issue 22 items 3 and 4): back up → register
people, ingest events → erase one person → pass the retention end of a month → restore the
backup → the erased person stays erased (410, no data key, the certificate's statements
true), the expired month is unreadable in the restored copy *and* in the untouched backup
file, everyone else is intact. The same for addresses (decision 0043, "IP addresses"): a month
of them ends 30 days after the month does, and the next month's still read. The keys are a
real key file shared by both installations."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.backup import archive
from safehold.backup.ledger import Ledger
from safehold.client import new_event_id
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import make_engine, make_session_factory, transaction
from safehold.events import ips, storage
from safehold.events.intake import PERSONAL_FIELD
from safehold.events.models import Login
from safehold.policy import load_policy
from safehold.requests import jobs as request_jobs
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime
from safehold.vault import rules as vault_rules
from safehold.vault.errors import DataKeyDestroyed, UnknownKeyVersion
from safehold.vault.models import DataKey
from safehold.vault.providers import KEY_FILE, FileKeyProvider, KeyProvider
from safehold.vault.service import Vault
from tests.conftest import DEFAULT_POLICY, FROZEN_AT, TEST_AUDIT_KEY
from tests.e2e.test_backup_drill import NewDatabase, Site
from tests.e2e.test_backup_drill import new_database as new_database  # the fixture
from tests.integration.requests.support import ctx, person, verified

FEBRUARY, MARCH = "usage_events@2026-02", "usage_events@2026-03"
IP_FEBRUARY, IP_MARCH = "network_ip@2026-02", "network_ip@2026-03"
PAST_FEBRUARY = datetime(2027, 4, 10, tzinfo=UTC)  # 2026-03-01 + P13M passed, March's not
PAST_IP_FEBRUARY = datetime(2026, 4, 3, tzinfo=UTC)  # 2026-03-01 + P30D (+ grace), not March's
NETWORK = "198.51.100.0/24"


class KeyFileSite(Site):
    """An installation whose vault holds its keys in ``<data_dir>/keys/kek.json``."""

    def __init__(self, url: URL, data_dir: Path, clock: FrozenClock) -> None:
        self.engine = make_engine(url)
        self.app: Any = None
        self.provider = FileKeyProvider(data_dir / KEY_FILE)
        self.ledger = Ledger(data_dir / "keys" / "erasure-ledger.jsonl")
        self.runtime = Runtime(
            settings=Settings(data_dir=data_dir, policy=DEFAULT_POLICY), engine=self.engine,
            sessions=make_session_factory(self.engine, audit_key=TEST_AUDIT_KEY),
            policy=load_policy(DEFAULT_POLICY),
            vault=Vault(self.provider, clock, ledger=self.ledger), clock=clock,
        )  # fmt: skip

    def queries(self, subject_id: uuid.UUID) -> dict[str, list[str]]:
        """Each key class of the person's events → their decrypted queries (or "erased")."""
        found: dict[str, list[str]] = {}
        e = storage.EVENTS
        with self.runtime.sessions() as session:
            rows = session.execute(
                select(e.c.retention_class, e.c.category, e.c.personal).where(
                    e.c.subject_id == subject_id, e.c.personal.isnot(None)
                )
            ).all()
            for klass, category, blob in rows:
                try:
                    sealed = self.runtime.vault.decrypt(
                        session, subject_id, klass, category, PERSONAL_FIELD, blob
                    )
                    text = str(json.loads(sealed)["query"])
                except DataKeyDestroyed:
                    text = "erased"
                found.setdefault(klass, []).append(text)
        return {k: sorted(v) for k, v in found.items()}


def searches(site: Site, people: list[uuid.UUID], ago: timedelta, word: str) -> None:
    answer = send(site, people, ago, "guide.search", {"results": 3, "query": word})
    assert answer["accepted"] == len(people)


def sign_ins(site: Site, people: list[uuid.UUID], ago: timedelta) -> None:
    send(site, people, ago, "login", {})


def send(
    site: Site, people: list[uuid.UUID], ago: timedelta, name: str, properties: dict[str, Any]
) -> dict[str, Any]:
    """One event named ``name`` per person, ``ago`` before now, from one address; the answer."""
    sender = site.token(["events:write"], [])
    now = site.runtime.clock.now()
    events = [
        {"event_id": str(new_event_id()), "subject_id": str(sid), "name": name,
         "timestamp": (now - ago).isoformat(), "properties": properties}
        for sid in people
    ]  # fmt: skip
    body = {"sent_at": now.isoformat(), "context": {"ip": "198.51.100.23"}, "events": events}
    with site.client() as client:
        answer = client.post("/v1/events", json=body, headers=sender)
    assert answer.status_code == 202, answer.text
    found: dict[str, Any] = answer.json()
    return found


def addresses(site: KeyFileSite, subject_id: uuid.UUID) -> dict[str, list[str]]:
    """Each month key of the person's addresses (events and sign-ins) → what they read as."""
    found: dict[str, list[str]] = {}
    e = storage.EVENTS
    with site.runtime.sessions() as session:
        rows = [dict(r) for r in session.execute(
            select(e.c.subject_id, e.c.ip, e.c.ip_sealed, e.c.ip_class).where(
                e.c.subject_id == subject_id, e.c.ip_sealed.isnot(None))
        ).mappings()]  # fmt: skip
        rows += [vars(login) for login in session.scalars(
            select(Login).where(Login.subject_id == subject_id, Login.ip_sealed.isnot(None))
        )]  # fmt: skip
        for row in rows:
            address, gone = ips.unseal(session, site.runtime.vault, subject_id, row)
            found.setdefault(row["ip_class"], []).append("erased" if gone else str(address))
    return {k: sorted(v) for k, v in found.items()}


def backup_keys(backup: archive.Backup) -> list[tuple[uuid.UUID, str, str, bytes]]:
    """The data keys inside the backup file itself, read without restoring it."""
    path = backup.database_file
    if backup.manifest["backend"] == "sqlite":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT subject_id, retention_class, kek_version, wrapped_key FROM data_keys"
            ).fetchall()
        return [(uuid.UUID(hex=s), c, v, bytes(w)) for s, c, v, w in rows]
    tool = shutil.which("pg_restore")
    assert tool is not None
    dumped = subprocess.run(  # noqa: S603 — our own arguments, no shell
        [tool, "--data-only", "--table=data_keys", "--file=-", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    lines = dumped.split("COPY public.data_keys (", 1)[1].split("\n")
    columns = lines[0].split(")")[0].split(", ")
    found = []
    for line in lines[1:]:
        if line == "\\.":
            break
        row = dict(zip(columns, line.split("\t"), strict=True))
        wrapped = bytes.fromhex(row["wrapped_key"].removeprefix("\\\\x"))
        found.append(
            (uuid.UUID(row["subject_id"]), row["retention_class"], row["kek_version"], wrapped)
        )
    return found


def backup_file_keys(
    folder: Path, provider: KeyProvider, people: set[uuid.UUID], *, dead: str, alive: str
) -> None:
    """In the backup file as it was taken: every person's key of the ``dead`` epoch fails to
    unwrap (its KEK is destroyed), every key of the ``alive`` one unwraps."""
    inside = backup_keys(archive.load(folder))
    gone = [k for k in inside if k[2] == dead]
    kept = [k for k in inside if k[2] == alive]
    assert {k[0] for k in gone} == people == {k[0] for k in kept}
    for sid, klass, version, wrapped in gone:
        with pytest.raises(UnknownKeyVersion):
            provider.unwrap(version, wrapped, vault_rules.key_aad(sid, klass))
    for sid, klass, version, wrapped in kept:
        assert len(provider.unwrap(version, wrapped, vault_rules.key_aad(sid, klass))) == 32


def two_people(site: KeyFileSite) -> tuple[KeyFileSite, uuid.UUID, uuid.UUID]:
    """``site`` migrated, with Ada and Brook registered and searching three days ago (filed
    under February when the clock says 2 March)."""
    migrate.upgrade(site.engine)
    ada, brook = person(site.runtime, "Ada"), person(site.runtime, "Brook")
    searches(site, [ada, brook], timedelta(days=3), "february words")
    return site, ada, brook


def test_an_expired_month_is_unreadable_in_the_restored_copy_and_the_backup_file(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    clock, data_dir = FrozenClock(FROZEN_AT), tmp_path / "var"  # 2026-03-02
    site, ada, brook = two_people(KeyFileSite(new_database(), data_dir, clock))
    runtime = site.runtime
    searches(site, [ada, brook], timedelta(hours=1), "march words")
    assert site.provider.epochs() == [IP_FEBRUARY, IP_MARCH, FEBRUARY, MARCH]
    assert {FEBRUARY, MARCH, IP_FEBRUARY, IP_MARCH} <= set(site.keys(brook))
    clock.advance(timedelta(hours=1))
    backup = archive.create(
        site.engine, tmp_path / "backups", now=clock.now(), keys="key file", ledger=site.ledger.path
    )

    cyd = person(runtime, "Cyd")
    searches(site, [brook, cyd], timedelta(minutes=5), "later words")
    certificate = request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, ada))
    assert certificate["outcome"] == "completed"
    shredded = set(certificate["erased"]["retention_classes_shredded"])
    assert {"usage_events", "network_ip"} <= shredded
    # A class's epochs go with it, the months of the person's addresses too.
    assert not {FEBRUARY, MARCH, IP_FEBRUARY, IP_MARCH} & set(site.keys(ada))

    clock.set(PAST_FEBRUARY)
    report = retention_jobs.run(runtime)
    line = report.lines[("usage.action", FEBRUARY)]
    assert (line.action, line.months, line.shredded) == ("destroy_epoch", ["2026-02"], 1)
    assert site.provider.epochs() == [MARCH]  # both months of addresses ended long ago
    assert FEBRUARY not in site.provider.path.read_text()
    # The month's rows are kept for the roll-up (none configured here): unreadable already.
    assert site.queries(brook) == {FEBRUARY: ["erased"], MARCH: ["later words", "march words"]}

    copy = KeyFileSite(new_database(), data_dir, clock)  # same key file, same ledger
    done = copy.restored_from(backup.folder)
    assert done.replayed.erasures == 1

    # The erased person: 410, no data key at all among the shredded classes.
    reader = copy.token(["subjects:read"], ["service_provision"])
    with copy.client() as client:
        gone = client.get(f"/v1/subjects/{ada}?purpose=service_provision", headers=reader)
        assert gone.status_code == 410, gone.text
        other = client.get(f"/v1/subjects/{brook}?purpose=service_provision", headers=reader)
        assert other.status_code == 200, other.text
        assert "Brook Example" in other.text
    assert not any(k.split("@")[0] in shredded for k in copy.keys(ada))
    assert copy.events(ada) == 0
    # February came back with the backup, keys and all — and is unreadable; March is intact.
    assert FEBRUARY in copy.keys(brook)
    assert copy.queries(brook) == {FEBRUARY: ["erased"], MARCH: ["march words"]}

    # The untouched backup file: February's keys cannot be unwrapped, March's can.
    backup_file_keys(backup.folder, copy.provider, {ada, brook}, dead=FEBRUARY, alive=MARCH)

    # A retention run on the restored copy clears the dead keys it brought back.
    retention_jobs.run(copy.runtime)
    assert FEBRUARY not in copy.keys(brook)
    with transaction(copy.runtime.sessions) as session:
        left = session.scalars(select(DataKey).where(DataKey.kek_version == FEBRUARY)).all()
        assert left == []
    copy.engine.dispose()
    site.engine.dispose()


def test_an_expired_months_addresses_are_unreadable_in_the_restored_copy_and_the_backup_file(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    clock, data_dir = FrozenClock(FROZEN_AT), tmp_path / "var"  # 2026-03-02
    site, ada, brook = two_people(KeyFileSite(new_database(), data_dir, clock))
    sign_ins(site, [ada], timedelta(days=3))
    searches(site, [ada, brook], timedelta(hours=1), "march words")
    sign_ins(site, [brook], timedelta(hours=1))
    assert addresses(site, ada) == {IP_FEBRUARY: [NETWORK] * 2, IP_MARCH: [NETWORK]}
    clock.advance(timedelta(hours=1))
    backup = archive.create(
        site.engine, tmp_path / "backups", now=clock.now(), keys="key file", ledger=site.ledger.path
    )

    clock.set(PAST_IP_FEBRUARY)
    report = retention_jobs.run(site.runtime)
    line = report.lines[("network.ip", IP_FEBRUARY)]
    assert (line.action, line.months, line.shredded) == ("destroy_epoch", ["2026-02"], 2)
    assert IP_FEBRUARY not in site.provider.epochs()
    assert IP_MARCH in site.provider.epochs()
    assert IP_FEBRUARY not in site.provider.path.read_text()

    copy = KeyFileSite(new_database(), data_dir, clock)  # same key file, same ledger
    copy.restored_from(backup.folder)
    # February's addresses came back with the backup, sealed rows and keys, and are noise;
    # March's still read (until their own month's end plus 30 days).
    assert addresses(copy, ada) == {IP_FEBRUARY: ["erased"] * 2, IP_MARCH: [NETWORK]}
    assert addresses(copy, brook) == {IP_FEBRUARY: ["erased"], IP_MARCH: [NETWORK] * 2}

    # The untouched backup file: February's address keys cannot be unwrapped, March's can.
    backup_file_keys(backup.folder, copy.provider, {ada, brook}, dead=IP_FEBRUARY, alive=IP_MARCH)
    copy.engine.dispose()
    site.engine.dispose()
