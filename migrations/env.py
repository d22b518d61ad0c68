"""Alembic environment: Safehold passes its engine in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from safehold.migrate import include_name
from safehold.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # skip tables made at run time (event partitions)
    )
    context.run_migrations()
