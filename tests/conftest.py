"""Shared fixtures: settings in a temporary data dir, a migrated database per backend
(SQLite always, PostgreSQL when SAFEHOLD_TEST_POSTGRES_URL is set), and per-test isolation by
an outer transaction that is rolled back (services' commits become savepoint releases)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from safehold import migrate
from safehold.app import create_app
from safehold.clock import FrozenClock
from safehold.config import Settings, normalise_database_url
from safehold.db import AUDIT_KEY, make_engine
from safehold.policy import load_policy
from safehold.runtime import Runtime
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault
from tests.integration.comms.smtp import SmtpServer, smtp_server

PG_ENV = "SAFEHOLD_TEST_POSTGRES_URL"
REDIS_ENV = "SAFEHOLD_TEST_REDIS_URL"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
FROZEN_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TEST_AUDIT_KEY = b"fictional audit key for tests..."  # 32 bytes, never a real key
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = ROOT / "policies" / "default.yaml"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not os.environ.get(PG_ENV):
        raise pytest.UsageError(f"CI=true but {PG_ENV} is not set: the PostgreSQL tier must run")
    if IN_CI and not os.environ.get(REDIS_ENV):
        raise pytest.UsageError(f"CI=true but {REDIS_ENV} is not set: the Redis tests must run")


@pytest.fixture
def redis_url() -> str:
    """The test Redis (SAFEHOLD_TEST_REDIS_URL): tests keep to keys under their own prefix."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} not set")
    return url


def postgres_url() -> URL | None:
    raw = os.environ.get(PG_ENV)
    return normalise_database_url(raw) if raw else None


@pytest.fixture(scope="session")
def scratch_postgres() -> Iterator[Callable[[], URL]]:
    """A factory of fresh PostgreSQL databases, dropped at the end of the session."""
    base = postgres_url()
    if base is None:
        pytest.skip(f"{PG_ENV} not set")
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> URL:
        name = f"safehold_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return base.set(database=name)

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "safehold.db"
        url = make_url(f"sqlite+pysqlite:///{path}")
    else:
        url = request.getfixturevalue("scratch_postgres")()
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(migrated_engine: Engine) -> Iterator[object]:
    with migrated_engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def sessions(connection: object) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection,  # type: ignore[arg-type]
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={AUDIT_KEY: TEST_AUDIT_KEY},
    )


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(FROZEN_AT)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, policy=DEFAULT_POLICY, max_request_bytes=64 * 1024)


@pytest.fixture
def runtime(
    settings: Settings, migrated_engine: Engine, sessions: sessionmaker[Session], clock: FrozenClock
) -> Runtime:
    return Runtime(
        settings=settings,
        engine=migrated_engine,
        sessions=sessions,
        policy=load_policy(DEFAULT_POLICY),
        vault=Vault(MemoryKeyProvider(), clock),
        clock=clock,
    )


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as c:
        yield c
