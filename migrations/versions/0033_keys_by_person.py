"""Personal tables keyed by person (decision 0037, ``safehold.sharding``): the primary key of
``kept_reads``, ``marketing_choices``, ``objections``, ``policy_acceptances`` and
``web_email_changes`` becomes (subject_id, id), so a PostgreSQL sharded by person can hold
each person's rows on one node. No row changes; ``id`` stays unique (it is a UUID4).

Revision ID: 0033
Revises: 0030
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "kept_reads",
    "marketing_choices",
    "objections",
    "policy_acceptances",
    "web_email_changes",
)


def _key(columns: list[str]) -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", columns)


def upgrade() -> None:
    _key(["subject_id", "id"])


def downgrade() -> None:
    _key(["id"])
