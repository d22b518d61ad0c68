"""The schema lint (``safehold.sharding``, docs/scaling.md) on the catalogue the migrations
build on PostgreSQL: every personal table keyed by person, no global unique index over one,
foreign keys only between co-located tables or to reference tables.

Not every table follows the rules yet. What remains is listed here, table and rule, and in
docs/scaling.md; the lint itself is not relaxed for them: ``test_every_table_can_be_sharded``
fails (strict xfail, so it must be turned on the day the list is empty), and the list must
be exactly what the lint finds — a new violation, or a fixed one left on the list, fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import URL

from safehold import migrate, sharding
from safehold.db import make_engine, make_session_factory
from safehold.events import jobs
from safehold.sharding import Violation

pytestmark = pytest.mark.postgres

PK, UQ, FK = (
    "primary key lacks subject_id",
    "unique key lacks subject_id",
    ("foreign key between tables not co-located"),
)
REMAINING = {
    ("audit_entries", PK), ("audit_entries", UQ), ("data_requests", PK),
    ("legal_holds", PK), ("outbox_items", PK), ("payment_methods", PK),
    ("propagations", PK), ("restrictions", FK), ("restrictions", PK), ("restrictions", UQ),
    ("subjects", "unique key lacks id"), ("web_sessions", PK), ("web_sign_in_codes", PK),
}  # fmt: skip


@pytest.fixture(scope="module")
def found(request: pytest.FixtureRequest) -> list[Violation]:
    make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
    engine = make_engine(make())
    try:
        migrate.upgrade(engine)
        jobs.ensure_ahead(make_session_factory(engine), datetime.now(UTC))  # months exist too
        with engine.connect() as conn:
            return sharding.violations(conn)
    finally:
        engine.dispose()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=f"{len(REMAINING)} violations remain (docs/scaling.md)",
)
def test_every_table_can_be_sharded(found: list[Violation]) -> None:
    assert found == [], "\n".join(map(str, found))


def test_what_remains_is_exactly_what_the_lint_finds(found: list[Violation]) -> None:
    assert {(v.table, v.rule) for v in found} == REMAINING, "\n".join(map(str, found))


def test_the_tables_keyed_here_follow_every_rule(found: list[Violation]) -> None:
    """Events by (owner, month, id) as primary key, logins and devices by (person, id) and
    joined on the person, the anonymous links a look-up table of their own; no receipts."""
    keyed = {"events", "anonymous_links", "event_receipts", "logins", "devices"}
    assert not [v for v in found if v.table in keyed]


def test_the_lint_names_the_table_and_the_rule_it_breaks(
    scratch_postgres: Callable[[], URL],
) -> None:
    engine = make_engine(scratch_postgres())
    with engine.begin() as conn:  # a schema breaking each rule once
        for statement in (
            "CREATE TABLE subjects (id uuid PRIMARY KEY, email_index text UNIQUE)",
            "CREATE TABLE notes (id uuid PRIMARY KEY, subject_id uuid REFERENCES subjects)",
            "CREATE TABLE items (subject_id uuid, id uuid, note_id uuid REFERENCES notes (id), "
            "PRIMARY KEY (subject_id, id))",
            "CREATE TABLE kept (subject_id uuid, id uuid, PRIMARY KEY (subject_id, id), "
            "FOREIGN KEY (subject_id) REFERENCES subjects (id))",
            "CREATE TABLE api_keys (id uuid PRIMARY KEY, item_subject uuid, item uuid, "
            "FOREIGN KEY (item_subject, item) REFERENCES items (subject_id, id))",
            "CREATE TABLE stray (id uuid PRIMARY KEY)",
            "CREATE TABLE loose (subject_id uuid)",
        ):
            conn.exec_driver_sql(statement)
        found = {(v.table, v.rule) for v in sharding.violations(conn)}
    engine.dispose()
    assert found == {
        ("subjects", "unique key lacks id"),
        ("notes", PK),
        ("items", FK),
        ("api_keys", "reference table points at a distributed one"),
        ("stray", "unclassified"),
        ("loose", "no primary key"),
    }
    assert ("kept", FK) not in found  # joined on the person: co-located
