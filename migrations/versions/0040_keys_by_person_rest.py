"""The rest of the personal tables keyed by person (decision 0044, ``safehold.sharding``).

* ``data_requests``, ``legal_holds``, ``outbox_items``, ``payment_methods`` and
  ``propagations``: primary key (subject_id, id), plus an index on ``id`` alone for the
  look-ups that only have the id (a link, an API path).
* ``restrictions``: primary key (subject_id, id), one per request as (subject_id,
  request_id), its request joined on (subject_id, request_id).
* ``subjects.email_index`` is no longer unique: the address look-up moves to the table
  ``email_lookup`` (email_index -> subject_id), distributed by the index, whose primary key
  keeps one account per address.
* ``web_sessions`` and ``web_sign_in_codes`` become look-up tables distributed by their own
  id (the cookie's hash, the attempt id): their foreign key to ``subjects`` goes.

No row changes; the look-up table is filled from ``subjects``.

Revision ID: 0040
Revises: 0036
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BY_ID = ("data_requests", "legal_holds", "outbox_items", "payment_methods", "propagations")
LOOKUPS = ("web_sessions", "web_sign_in_codes")


def _primary(table: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", columns)


def upgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_restrictions_request_id_data_requests", type_="foreignkey")
        batch_op.drop_constraint("uq_restrictions_request_id", type_="unique")
    for table in BY_ID:
        _primary(table, ["subject_id", "id"])
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_id", ["id"], unique=False)
    _primary("restrictions", ["subject_id", "id"])
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_restrictions_subject_id", ["subject_id", "request_id"]
        )
        batch_op.create_index("ix_restrictions_request_id", ["request_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_restrictions_subject_id_data_requests", "data_requests",
            ["subject_id", "request_id"], ["subject_id", "id"],
        )  # fmt: skip
    for table in LOOKUPS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_subject_id_subjects", type_="foreignkey")
    op.create_table(
        "email_lookup",
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("email_index", name=op.f("pk_email_lookup")),
    )
    op.create_index(op.f("ix_email_lookup_subject_id"), "email_lookup", ["subject_id"])
    op.execute(
        "INSERT INTO email_lookup (email_index, subject_id) "
        "SELECT email_index, id FROM subjects WHERE email_index IS NOT NULL"
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subjects_email_index", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_subjects_email_index", ["email_index"])
    op.drop_table("email_lookup")
    for table in LOOKUPS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_subject_id_subjects", "subjects", ["subject_id"], ["id"]
            )
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_restrictions_subject_id_data_requests", type_="foreignkey")
        batch_op.drop_constraint("uq_restrictions_subject_id", type_="unique")
        batch_op.drop_index("ix_restrictions_request_id")
    _primary("restrictions", ["id"])
    for table in BY_ID:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_id")
        _primary(table, ["id"])
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_restrictions_request_id", ["request_id"])
        batch_op.create_foreign_key(
            "fk_restrictions_request_id_data_requests", "data_requests", ["request_id"], ["id"]
        )
