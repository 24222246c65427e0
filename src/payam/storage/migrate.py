"""Apply the Alembic migrations that live in this package (on start and by ``payam db upgrade``).

Upgrading is safe to repeat and safe to race: several server processes starting at once on one
database run the migrations once. On SQLite the migration runs in one ``BEGIN IMMEDIATE``
transaction of the writer connection; on PostgreSQL ``env.py`` takes a transaction-level
advisory lock before alembic reads the current revision. Within one process, alembic keeps its
running context in module globals, so migrations are also run one at a time per event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from payam.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str | None:
    """The revision this code expects the database to be at."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, revision: str = "head") -> None:
    # Migrations run outside our BEGIN hooks' transaction handling: alembic begins its own.
    async with _one_at_a_time(), db.writer_connection() as conn:
        await conn.run_sync(_upgrade, revision)
        await conn.commit()


async def downgrade(db: Database, revision: str) -> None:
    """Step back to ``revision`` ("base" drops everything): for tests of the migrations."""
    async with _one_at_a_time(), db.writer_connection() as conn:
        await conn.run_sync(_downgrade, revision)
        await conn.commit()


async def current_revision(db: Database) -> str | None:
    async with db.reader.connect() as conn:
        return await conn.run_sync(_current)
