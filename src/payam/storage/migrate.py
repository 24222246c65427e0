"""Apply the Alembic migrations that live in this package (on start and by ``payam db upgrade``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from payam.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> Any:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, revision: str = "head") -> None:
    # Migrations run outside our BEGIN hooks' transaction handling: alembic begins its own.
    async with db.writer.connect() as conn:
        await conn.run_sync(_upgrade, revision)
        await conn.commit()


async def current_revision(db: Database) -> str | None:
    async with db.reader.connect() as conn:
        result: str | None = await conn.run_sync(_current)
        return result
