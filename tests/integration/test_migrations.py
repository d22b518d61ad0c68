"""The migrations build the schema the models describe, on both backends, both ways."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL, make_url

from safehold import migrate
from safehold.db import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def scratch_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('mig') / 'scratch.db'}")
    else:
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make()
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_upgrade_reaches_head_and_matches_the_models(scratch_engine: Engine) -> None:
    assert migrate.current_revision(scratch_engine) is None
    assert not migrate.is_current(scratch_engine)
    migrate.upgrade(scratch_engine)
    assert migrate.is_current(scratch_engine)
    assert migrate.pending_model_changes(scratch_engine) == []


def test_downgrade_to_base_then_upgrade_again(scratch_engine: Engine) -> None:
    migrate.upgrade(scratch_engine)
    migrate.downgrade(scratch_engine, "base")
    assert set(inspect(scratch_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(scratch_engine)
    assert "api_keys" in inspect(scratch_engine).get_table_names()


def test_sqlite_connections_use_the_promised_pragmas(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    engine = make_engine(make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('p') / 'p.db'}"))
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "secure_delete",
                "busy_timeout",
            )
        }
    engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "secure_delete": 1,
        "busy_timeout": 5000,
    }
