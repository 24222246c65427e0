"""Alembic environment. Runs inside the package so the installed ``payam db upgrade`` works.

The caller passes an open synchronous connection in ``config.attributes["connection"]``
(see ``storage.migrate``); there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from payam.storage.tables import metadata

# Any fixed number: every payam process migrating one PostgreSQL database takes this lock.
MIGRATION_LOCK = 0x7061_7961_6D00  # "payam\0"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Held to the end of the (transactional DDL) migration, taken before alembic reads the
        # current revision: a second process starting at the same time waits, then finds the
        # schema at head and does nothing.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
