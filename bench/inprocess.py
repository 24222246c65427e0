"""Services built in this process for a benchmark that calls them directly (no HTTP): a fresh
data directory, rate limits off, a fake clock, and on PostgreSQL a schema of its own that is
dropped afterwards."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from payam.app import build_services
from payam.config import Settings
from payam.domain.clock import FakeClock
from payam.services.container import Services
from payam.storage import migrate


@asynccontextmanager
async def in_process_services(
    database_url: str | None, clock: FakeClock
) -> AsyncIterator[Services]:
    """Migrated services on SQLite under a temporary directory, or on ``database_url`` in a
    fresh schema (``services.settings.database_schema`` names it; None on SQLite)."""
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        values: dict[str, Any] = {"data_dir": Path(tmp), "rate_limits_enabled": False}
        if database_url:
            schema = f"bench_{secrets.token_hex(4)}"
            values |= {"database_url": database_url, "database_schema": schema}
        services = build_services(Settings(**values), clock=clock)
        if schema:
            async with services.db.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            await migrate.upgrade(services.db)
            yield services
        finally:
            if schema:
                async with services.db.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await services.db.dispose()
