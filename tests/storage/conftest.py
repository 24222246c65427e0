"""A migrated database on SQLite and PostgreSQL for the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from payam.storage import migrate
from payam.storage.database import Database
from tests.conftest import DatabaseTarget


@pytest.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    opened = Database(database.url, schema=database.schema, sqlite_synchronous="NORMAL")
    await migrate.upgrade(opened)
    try:
        yield opened
    finally:
        await opened.dispose()
