"""docs/operations.md's grants for an insert-only role, run as written on PostgreSQL: the
role can append (entries, heads, checkpoints) but neither change nor remove the log, nor
drop its guards."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from safehold import migrate
from safehold.access import audit, checkpoints
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.db import make_engine, make_session_factory
from tests.conftest import FROZEN_AT, ROOT, TEST_AUDIT_KEY

ROLE = "safehold_app_test"


def documented_grants() -> list[str]:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc[doc.index("### An insert-only role") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None
    lines = [ln for ln in block.group(1).splitlines() if ln and not ln.startswith("--")]
    return [
        s.strip().replace("safehold_app", ROLE) for s in " ".join(lines).split(";") if s.strip()
    ]


@pytest.mark.postgres
def test_the_documented_role_appends_but_cannot_change_the_log(
    scratch_postgres: Callable[[], URL],
) -> None:
    engine = make_engine(scratch_postgres())
    migrate.upgrade(engine)
    with engine.connect() as conn:
        outer = conn.begin()
        conn.execute(text(f"CREATE ROLE {ROLE} NOLOGIN"))
        for statement in documented_grants():
            conn.execute(text(statement))
        conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
        sessions = make_session_factory(conn, audit_key=TEST_AUDIT_KEY)  # type: ignore[arg-type]
        clock = FrozenClock(FROZEN_AT)
        with sessions() as session:
            audit.record(
                session, actor=Actor("system", "test"), action="subject.read", subject_id=None,
                categories=[], purpose=None, outcome="ok", clock=clock,
            )  # fmt: skip
            checkpoints.take(session, TEST_AUDIT_KEY, clock=clock)
            assert audit.verify(session).ok
        for statement in (
            "UPDATE audit_entries SET outcome = 'x'",
            "DELETE FROM audit_checkpoints",
            "TRUNCATE audit_entries",
            "DROP TRIGGER audit_entries_no_update ON audit_entries",
        ):
            with (
                pytest.raises(DBAPIError, match=r"permission denied|must be owner"),
                conn.begin_nested(),
            ):
                conn.execute(text(statement))
        outer.rollback()
    engine.dispose()
