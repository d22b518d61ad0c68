"""Personal tables keyed by person (decision 0037, ``safehold.sharding``): the primary key of
``devices``, ``kept_reads``, ``marketing_choices``, ``objections``, ``policy_acceptances`` and
``web_email_changes`` becomes (subject_id, id), so a PostgreSQL sharded by person can hold
each person's rows on one node; a login's device is then (subject_id, device_id), the
person's own (no ``ON DELETE SET NULL``: the retention sweep clears ``device_id`` before it
deletes a device). No row changes; ``id`` stays unique (it is a UUID4).

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
    "devices",
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
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.drop_constraint("fk_logins_device_id_devices", type_="foreignkey")
    _key(["subject_id", "id"])
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_logins_subject_id_devices", "devices", ["subject_id", "device_id"],
            ["subject_id", "id"],
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.drop_constraint("fk_logins_subject_id_devices", type_="foreignkey")
    _key(["id"])
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_logins_device_id_devices", "devices", ["device_id"], ["id"], ondelete="SET NULL"
        )
