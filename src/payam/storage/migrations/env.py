"""Alembic environment. Runs inside the package so the installed ``payam db upgrade`` works.

The caller passes an open synchronous connection in ``config.attributes["connection"]``
(see ``storage.migrate``); there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

from payam.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
