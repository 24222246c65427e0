"""The database: one async SQLAlchemy engine for reads and, on SQLite, one connection for writes.

SQLite allows one writer at a time. Instead of letting concurrent writers collide on the file
lock and spin on ``busy_timeout``, every write transaction runs on a single dedicated connection
(``BEGIN IMMEDIATE``), queued in the event loop; reads use a pool of other connections and see
the last committed state thanks to WAL. On PostgreSQL both doors are the same pooled engine.

Pragmas (P5.3, durability): WAL journal, foreign keys on, ``secure_delete`` on so deleted rows
are overwritten with zeros in the file, and ``synchronous`` FULL by default so that an
acknowledged commit survives a crash. Reader connections are ``query_only``: a write through
``read()`` fails at once instead of fighting the writer for the lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def _sqlite_pragmas(synchronous: str, *, query_only: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _begin_*).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return on_connect


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        schema: str | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
                raise ValueError(f"unknown SQLite synchronous mode {sqlite_synchronous!r}")
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.reader = create_async_engine(
                url, echo=echo, poolclass=AsyncAdaptedQueuePool, pool_size=4, max_overflow=4
            )
            self.writer = create_async_engine(
                url,
                echo=echo,
                poolclass=AsyncAdaptedQueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
            )
            for engine, begin, query_only in (
                (self.reader, "BEGIN", True),
                (self.writer, "BEGIN IMMEDIATE", False),
            ):
                event.listen(
                    engine.sync_engine,
                    "connect",
                    _sqlite_pragmas(sqlite_synchronous, query_only=query_only),
                )
                event.listen(engine.sync_engine, "begin", _begin_with(begin))
        else:
            connect_args: dict[str, Any] = {}
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
            self.reader = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=20, connect_args=connect_args
            )
            self.writer = self.reader

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that only reads: a consistent snapshot, and writing through it fails.

        SQLite gives the snapshot (WAL) and refuses writes (``query_only``) on the reader
        connections; PostgreSQL is asked for the same (REPEATABLE READ, READ ONLY), since its
        default READ COMMITTED would let two statements of one export see different states.
        """
        async with self.reader.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes: all of it commits, or none of it (nothing half-written)."""
        async with self.writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self.writer


def _begin_with(statement: str) -> Any:
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return on_begin
