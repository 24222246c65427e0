"""Alembic environment. Runs inside the package so the installed ``payam db upgrade`` works.

The caller passes an open synchronous connection in ``config.attributes["connection"]``
(see ``storage.migrate``); there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from payam.storage.tables import is_declared_object, metadata

LOCK_WAIT = "120s"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # SQLite does DDL inside transactions: one BEGIN IMMEDIATE around the whole upgrade, taken
    # before the current revision is read, makes racing processes migrate one after another.
    transactional_ddl=True,
    include_name=lambda name, _type, _parents: is_declared_object(name),
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Held to the end of the (transactional DDL) migration, taken before alembic reads the
        # current revision: a second process migrating the same schema waits, then finds it at
        # head and does nothing. Keyed by schema, so other schemas (other installs, tests)
        # migrate independently. A holder that never lets go (a hung process) makes the start
        # fail after LOCK_WAIT with "lock timeout" instead of hanging without a word.
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext('payam migrations'), "
                "hashtext(current_schema()))"
            )
        )
        connection.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    context.run_migrations()
