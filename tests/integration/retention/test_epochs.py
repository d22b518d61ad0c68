"""Month epochs in the live database (SQLite and PostgreSQL): ingestion seals personal
properties under the month's key, the retention run destroys it at the month's end (a person
under a legal hold keeps theirs), rotation leaves it alone, and `safehold promises` says
whether the month-key promise held."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.events import service as events
from safehold.events import storage
from safehold.events.schemas import BatchIn
from safehold.promises import epoch_checks
from safehold.promises import service as promises
from safehold.promises.rules import Result
from safehold.retention import jobs
from safehold.retention import service as holds
from safehold.runtime import Runtime
from safehold.vault.errors import DataKeyDestroyed
from safehold.vault.keyring import KeyRing, format_env_value
from safehold.vault.models import DataKey
from safehold.vault.providers import EnvKeyProvider, MemoryKeyProvider
from safehold.vault.service import Vault
from tests.integration.requests.support import STAFF, person

MARCH = "usage_events@2026-03"
PAST_MARCH = datetime(2027, 5, 3, tzinfo=UTC)  # 2026-04-01 + P13M + the daily run's grace


def search(runtime: Runtime, sid: uuid.UUID, words: str, vault: Vault | None = None) -> None:
    at = runtime.clock.now()
    ctx = events.Context(vault or runtime.vault, runtime.policy, runtime.clock, runtime.book)
    event = {
        "event_id": str(uuid.uuid4()), "subject_id": str(sid), "name": "guide.search",
        "timestamp": at.isoformat(), "properties": {"results": 2, "query": words},
    }  # fmt: skip
    batch = BatchIn.model_validate({"sent_at": at.isoformat(), "events": [event]})
    with transaction(runtime.sessions) as session:
        [outcome] = events.ingest(session, ctx, batch, actor=STAFF, received_at=at)
    assert outcome.status == "accepted", outcome


def read(runtime: Runtime, sid: uuid.UUID) -> list[str]:
    e = storage.EVENTS
    found = []
    with runtime.sessions() as session:
        rows = session.execute(
            select(e.c.retention_class, e.c.category, e.c.personal).where(e.c.subject_id == sid)
        ).all()
        for klass, category, blob in rows:
            try:
                text = runtime.vault.decrypt(session, sid, klass, category, "properties", blob)
                found.append(f"{klass}: {json.loads(text)['query']}")
            except DataKeyDestroyed:
                found.append(f"{klass}: erased")
    return found


def month_keys(runtime: Runtime, keys: object = None) -> Result:
    with runtime.sessions() as session:
        results = promises.run(
            session, runtime.policy, runtime.clock.now(),
            keys=keys or runtime.vault.provider,  # type: ignore[arg-type]
        )  # fmt: skip
    return next(r for r in results if r.id == "retention.month_keys")


def test_a_month_is_sealed_then_destroyed_at_its_end_and_the_promise_follows(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    search(runtime, sid, "quiet film")
    assert read(runtime, sid) == [f"{MARCH}: quiet film"]
    provider = runtime.vault.provider
    assert provider.epochs() == [MARCH]
    with runtime.sessions() as session:
        key = session.get(DataKey, (sid, MARCH))
        assert key is not None
        assert key.kek_version == MARCH
    assert month_keys(runtime).held

    # Rotation re-wraps ordinary keys only: the month stays under its own key.
    provider.add_version()
    report = runtime.vault.rotate(runtime.sessions)
    assert report.remaining == 0
    with runtime.sessions() as session:
        query = select(DataKey.retention_class, DataKey.kek_version)
        rows = session.execute(query.where(DataKey.subject_id == sid)).all()
        versions = {str(k): str(v) for k, v in rows}
    assert versions[MARCH] == MARCH
    assert {v for k, v in versions.items() if k != MARCH} == {"v2"}

    clock.set(PAST_MARCH)  # past the end and the grace, before the run: the promise is broken
    late = month_keys(runtime)
    assert not late.held
    assert MARCH in late.examples
    assert late.count == 2  # the data key wrapped by it, and the key itself

    jobs.run(runtime)
    assert provider.epochs() == []
    assert read(runtime, sid) == [f"{MARCH}: erased"]
    assert month_keys(runtime).held


def test_a_person_under_a_legal_hold_keeps_the_month_readable(
    runtime: Runtime, clock: FrozenClock
) -> None:
    held, other = person(runtime, "Hale"), person(runtime, "Orrin")
    search(runtime, held, "evidence words")
    search(runtime, other, "other words")
    with transaction(runtime.sessions) as session:
        hold = holds.place(
            session, policy=runtime.policy, clock=runtime.clock, actor=STAFF, subject_id=held,
            categories=["usage.action"], reason="Case 2026-44 (fictional)",
            legal_basis="Litigation hold", until=PAST_MARCH + timedelta(days=60),
        )  # fmt: skip
    clock.set(PAST_MARCH)
    report = jobs.run(runtime)
    line = report.lines[("usage.action", MARCH)]
    assert line.shredded == 1
    assert any("legal hold" in note for note in line.notes)
    assert runtime.vault.provider.epochs() == []
    assert read(runtime, held) == [f"{MARCH}: evidence words"]
    assert read(runtime, other) == [f"{MARCH}: erased"]
    assert month_keys(runtime).held

    with transaction(runtime.sessions) as session:  # the hold ends: the next run deletes it
        holds.lift(session, hold.id, clock=runtime.clock, actor=STAFF)
    report = jobs.run(runtime)
    assert report.lines[("usage.action", MARCH)].shredded == 1
    assert read(runtime, held) == [f"{MARCH}: erased"]


def test_a_provider_that_cannot_destroy_a_month_key_breaks_the_promise(
    runtime: Runtime,
) -> None:
    env = EnvKeyProvider(format_env_value(KeyRing.generate()))
    sid = person(runtime)
    search(runtime, sid, "plain words", Vault(env, runtime.clock))
    with runtime.sessions() as session:
        [klass] = session.scalars(select(storage.EVENTS.c.retention_class))
    assert klass == "usage_events"  # the person's ordinary key for the class
    found = month_keys(runtime, env)
    assert not found.held
    assert epoch_checks.NOT_DESTROYABLE in found.examples
    assert found.count == 2  # the provider, and the event sealed under an ordinary key
    assert month_keys(runtime, MemoryKeyProvider()).count == 1
