"""The schema lint (``safehold.sharding``, docs/scaling.md) on the catalogue the migrations
build on PostgreSQL: every personal table keyed by person, no global unique index over one,
foreign keys only between co-located tables or to reference tables, the audit log's tables
on the coordinator joined with nothing sharded. No table breaks a rule (issue 24, item 3):
a new violation fails here, naming the table and the rule."""

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


def test_every_table_can_be_sharded(found: list[Violation]) -> None:
    assert found == [], "\n".join(map(str, found))


def test_every_table_is_classified_once() -> None:
    """A table is distributed (by person, or a look-up by its own key), a reference table or
    a coordinator table — never two of these."""
    assert not sharding.REFERENCE & sharding.LOCAL
    assert not (sharding.REFERENCE | sharding.LOCAL) & set(sharding.LOOKUP)
    assert {t: sharding.distribution_column(t) for t in sharding.LOCAL} == dict.fromkeys(
        sharding.LOCAL
    )
    assert sharding.distribution_column("web_sessions") == "id"
    assert sharding.distribution_column("email_lookup") == "email_index"


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
            "CREATE TABLE audit_head (id int PRIMARY KEY, item_subject uuid, item uuid, "
            "FOREIGN KEY (item_subject, item) REFERENCES items (subject_id, id))",
            "CREATE TABLE audit_entries (seq bigint PRIMARY KEY, chain int UNIQUE, "
            "head int REFERENCES audit_head, key_id uuid REFERENCES api_keys)",
            "CREATE TABLE policy_versions (id int PRIMARY KEY, head int REFERENCES audit_head)",
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
        ("audit_head", "foreign key leaves the coordinator's tables"),
        ("policy_versions", "foreign key leaves the coordinator's tables"),
    }
    assert ("kept", FK) not in found  # joined on the person: co-located
    # a coordinator table: no key rule; joined with its own kind and reference tables only
    assert not [t for t, _ in found if t == "audit_entries"]
