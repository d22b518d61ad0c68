"""Month partitions on both backends: created ahead and on demand, read as one `events`,
dropped a month at once, invisible to the migration drift check; and the retention jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from safehold import migrate
from safehold.db import make_engine, make_session_factory
from safehold.events import jobs, rules, service, storage
from safehold.events.models import Login
from safehold.events.schemas import BatchIn
from safehold.policy.document import FullIpRules, IpMode
from safehold.runtime import Runtime
from tests.integration.events.conftest import ACTOR, Person, Send, address, stored

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def play(subject: uuid.UUID, at: datetime) -> dict[str, object]:
    return {"subject_id": str(subject), "name": "channel.play", "timestamp": at.isoformat()}


def test_each_month_gets_its_partition_and_the_next_is_made_ahead(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    send([play(ada, NOW - timedelta(days=40)), play(ada, NOW - timedelta(days=1))])
    # 21 January and 1 March; April is made ahead.
    assert storage.months(session) == [date(2026, 1, 1), date(2026, 3, 1), date(2026, 4, 1)]
    by_month = {
        rules.partition_name(m): session.scalar(
            select(func.count()).select_from(storage.month_table(rules.partition_name(m)))
        )
        for m in storage.months(session)
    }
    assert by_month == {"events_202601": 1, "events_202603": 1, "events_202604": 0}
    assert len(stored(session, subject_id=ada)) == 2


def test_a_month_is_dropped_at_once(session: Session, person: Person, send: Send) -> None:
    ada = person()
    send([play(ada, NOW - timedelta(days=40)), play(ada, NOW - timedelta(days=1))])
    assert storage.drop_month(session, date(2026, 1, 1))
    assert not storage.drop_month(session, date(2026, 1, 1))
    assert [r["occurred_at"].month for r in stored(session, subject_id=ada)] == [3]
    names = inspect(session.connection()).get_table_names()
    assert "events_202601" not in names
    assert "events_202603" in names


def test_months_past_retention_are_dropped_by_the_job(
    session: Session, person: Person, send: Send, runtime: Runtime
) -> None:
    ada = person()
    send([play(ada, NOW - timedelta(days=5))])
    later = datetime(2027, 4, 1, tzinfo=UTC)  # P13M after the end of February 2026
    seen: list[date] = []
    dropped = jobs.drop_expired_months(
        session, runtime.policy, later, before_drop=lambda _s, m: seen.append(m)
    )
    assert dropped == [date(2026, 2, 1)]
    assert seen == dropped
    assert stored(session, subject_id=ada) == []


def test_old_addresses_are_cleared(
    session: Session, person: Person, send: Send, runtime: Runtime
) -> None:
    ada = person()
    send(
        [play(ada, NOW - timedelta(days=20)),
         {**play(ada, NOW - timedelta(days=20)), "name": "login"}],
        context={"ip": "203.0.113.7"},
    )  # fmt: skip
    (login,) = session.scalars(select(Login))
    assert address(session, runtime.vault, login) == "203.0.113.0/24"
    assert address(session, runtime.vault, stored(session, subject_id=ada)[0]) == "203.0.113.0/24"
    assert jobs.expire_ips(session, runtime.policy, NOW) == 0
    cleared = jobs.expire_ips(session, runtime.policy, NOW + timedelta(days=11))  # P30D passed
    assert cleared == 2
    assert stored(session, subject_id=ada)[0]["ip_sealed"] is None
    assert session.scalars(select(Login.ip_sealed)).all() == [None]


def test_whole_addresses_expire_after_their_own_short_period(
    session: Session, person: Person, runtime: Runtime
) -> None:
    events = runtime.policy.events
    full = events.ip.model_copy(
        update={"mode": IpMode.FULL, "full": FullIpRules(purpose="service_provision", period="P7D")}
    )
    policy = runtime.policy.model_copy(update={"events": events.model_copy(update={"ip": full})})
    ctx = service.Context(runtime.vault, policy, runtime.clock)
    ada = person()
    batch = BatchIn.model_validate(
        {"context": {"ip": "203.0.113.7"}, "events": [play(ada, NOW - timedelta(days=1))]}
    )
    service.ingest(session, ctx, batch, actor=ACTOR, received_at=NOW)
    (row,) = stored(session, subject_id=ada)
    assert address(session, runtime.vault, row) == "203.0.113.7"
    assert row["ip_whole"] is True
    assert jobs.expire_ips(session, policy, NOW + timedelta(days=5)) == 0
    assert jobs.expire_ips(session, policy, NOW + timedelta(days=7)) == 1
    assert stored(session, subject_id=ada)[0]["ip_sealed"] is None


# --- on a database of their own: committed partitions, the drift check, concurrency ---------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def own_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('ev') / 'events.db'}")
    else:
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make()
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_partitions_are_invisible_to_the_drift_check_and_survive_downgrade(
    own_engine: Engine,
) -> None:
    sessions = make_session_factory(own_engine)
    created = jobs.ensure_ahead(sessions, NOW)
    assert created == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    assert jobs.ensure_ahead(sessions, NOW) == []  # idempotent
    assert "events_202605" in inspect(own_engine).get_table_names()
    assert migrate.pending_model_changes(own_engine) == []
    migrate.downgrade(own_engine, "0004")
    left = set(inspect(own_engine).get_table_names())
    assert not {n for n in left if n.startswith("event")}
    migrate.upgrade(own_engine)
    with own_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0


def test_the_worker_job_makes_partitions_ahead_then_rests(runtime: Runtime) -> None:
    from safehold.worker import registered_jobs

    job = next(j for j in registered_jobs() if j.name == "events.maintenance")
    job.run(runtime)
    assert job.run(runtime) == 0, "a second round right after finds nothing to do"
    with runtime.sessions() as session:
        made = set(storage.months(session))
    assert set(rules.months_ahead(runtime.clock.now(), jobs.MONTHS_AHEAD)) <= made
