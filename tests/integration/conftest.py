"""Integration fixtures shared across features."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.config import Settings
from safehold.runtime import Runtime, build_runtime
from tests.conftest import DEFAULT_POLICY


@pytest.fixture
def postgres_runtime(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Runtime, URL]]:
    """A Safehold of its own on a scratch PostgreSQL database, committing for real (for
    scans of a pg_dump), with the database's URL."""
    make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
    url = make()
    settings = Settings(
        data_dir=tmp_path, policy=DEFAULT_POLICY, database_url=url.render_as_string(False)
    )
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    yield runtime, url
    runtime.close()
