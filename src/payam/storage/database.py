"""The database: one async SQLAlchemy engine for reads and, on SQLite, one connection for writes.

SQLite allows one writer at a time. Instead of letting concurrent writers collide on the file
lock and spin on ``busy_timeout``, every write transaction runs on a single dedicated connection
(``BEGIN IMMEDIATE``), queued in the event loop; reads use a pool of other connections and see
the last committed state thanks to WAL. On PostgreSQL both doors are the same pooled engine.

Pragmas (P5.3, durability): WAL journal, foreign keys on, ``secure_delete`` on so deleted rows
are overwritten with zeros in the file, and ``synchronous`` FULL by default so that an
acknowledged commit survives a crash. Reader connections are ``query_only``: a write through
``read()`` fails at once instead of fighting the writer for the lock.

Each SQLite connection does its work on its own thread (aiosqlite). A statement goes there and
back once: executed, fetched and closed in one trip (``_OneTripCursor``), where aiosqlite's own
cursor makes four, and ``BEGIN`` travels with the first statement of its transaction. Every
trip is a queue handoff, a wake-up of the event loop and a handover of the GIL; under load the
trips, not the SQL, were most of the time of a write transaction (docs/benchmarks.md).

A write transaction of short statements (the group commit of sends) may ask for
``write(quick=True)``: on SQLite its ``BEGIN IMMEDIATE`` (which may wait for another process's
lock) and its ``COMMIT`` (the fsync) go to the connection's thread as before, but every
statement in between runs on the event loop's thread, with no trip at all. Two trips per
transaction instead of one per statement; the loop is held for the statements' own time, so
long ones (a channel's deletion) keep to plain ``write()``.

``read(quick=True)`` goes further for reads of a few index lookups (the caller's profile, a
history page, the update log): BEGIN, the statements and the end all run on the event loop's
thread (a WAL reader never waits for a lock). ``storage/prepared.py`` runs the hot statements
on the sqlite3 connection directly inside such transactions.

On SQLite the connections stay checked out of SQLAlchemy's pools between uses: the writer
behind a lock that queues writers (``writer_connection``, through which every use of the
writer goes), quick readers in a short free list. A quick transaction is the driver's own
(its BEGIN and COMMIT or ROLLBACK), with SQLAlchemy's only when one of its statements began
one. Pool checkout, checkin and SQLAlchemy's transaction around a short transaction had
cost more than its statements (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def _sqlite_pragmas(synchronous: str, *, query_only: bool) -> Any:
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # Where a quick transaction (and storage/prepared.py) finds the driver's connection.
        record.info[DRIVER_KEY] = dbapi_connection.driver_connection
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


# description, rowcount, lastrowid, rows, and whether a transaction is open afterwards.
_Outcome = tuple[Any, int, int | None, list[Any], bool]

# "UPDATE users SET ..." / "DELETE FROM devices WHERE ...": the kind of change and its table.
_CHANGE = re.compile(r'\s*(UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
CHANGES_KEY = "payam.changes"
DRIVER_KEY = "payam.driver"
# Reader connections kept checked out for quick reads, at most (more open when reads overlap).
_HELD_READERS = 4
Change = tuple[str, str]  # ("update" | "delete", table name)


def change_of(statement: str) -> Change | None:
    """The change an UPDATE or DELETE statement makes, for ``after_commit_of``."""
    found = _CHANGE.match(statement)
    if not found:
        return None
    return ("update" if found[1].upper() == "UPDATE" else "delete", found[2].lower())


def _run(
    conn: sqlite3.Connection, begin: str | None, many: bool, sql: str, parameters: Any
) -> _Outcome:
    """On the connection's thread: begin if asked, execute, fetch every row, close."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows, conn.in_transaction
    finally:
        cursor.close()


class _OneTripCursor:
    """The part of an aiosqlite cursor that SQLAlchemy's adapter uses, at one trip to the
    connection's thread per statement. The rows wait here in memory: no query of ours streams
    (a server-side cursor would get the same, fully read, rows)."""

    def __init__(self, connection: _OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def _trip(self, many: bool, sql: str, parameters: Any) -> _OneTripCursor:
        connection = self._connection
        if connection.runs_here:
            outcome = connection.run_here(many, sql, parameters)
        else:
            begin, connection.begin_with = connection.begin_with, None
            # aiosqlite's queue onto the connection's thread (untyped, hence the annotation).
            on_thread: Callable[..., Awaitable[_Outcome]] = connection._execute
            try:
                outcome = await on_thread(_run, connection._conn, begin, many, sql, parameters)
            except BaseException:
                # A statement that failed (or a wait that was cancelled) may leave a
                # transaction open: the ROLLBACK that follows must not be skipped.
                connection.transaction_open = True
                raise
            connection.transaction_open = outcome[4]
        self.description, self.rowcount, self.lastrowid, self._rows, _open = outcome
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _OneTripCursor:
        return await self._trip(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _OneTripCursor:
        return await self._trip(True, sql, parameters)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        self._rows = []


class _OneTripConnection(aiosqlite.Connection):
    # The BEGIN of the transaction SQLAlchemy began, sent with its first statement.
    begin_with: str | None = None
    # As SQLite said on the connection's thread after the last statement: COMMIT or ROLLBACK
    # with nothing open (the pool resets every connection it takes back) needs no trip.
    transaction_open = False
    # Statements after the first of a transaction run on the caller's thread (write(quick=True)).
    quick = False
    # Every statement, BEGIN and COMMIT included, runs on the caller's thread (read(quick=True)).
    on_loop = False

    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)

    @property
    def runs_here(self) -> bool:
        """Whether this transaction's next statement runs on the caller's thread: every one of
        a quick read, and those after the BEGIN of a quick write."""
        return self.on_loop or (self.quick and self.begin_with is None and self.transaction_open)

    def run_here(self, many: bool, sql: str, parameters: Any) -> _Outcome:
        """Run a statement on the caller's thread (only when ``runs_here``), with the pending
        BEGIN of a quick read. No trip is in flight (every one is awaited before the next
        statement), so the connection is never used by two threads at once."""
        begin, self.begin_with = self.begin_with, None
        try:
            outcome = _run(self._conn, begin, many, sql, parameters)
        except BaseException:
            self.transaction_open = True  # the ROLLBACK that follows must not be skipped
            raise
        self.transaction_open = outcome[4]
        return outcome

    async def begin_now(self) -> None:
        """Send the pending BEGIN on its own trip to the connection's thread (``BEGIN
        IMMEDIATE`` may wait for another process's lock: never on the event loop), so every
        statement of a quick write, the first included, runs on the caller's thread."""
        begin, self.begin_with = self.begin_with, None
        if begin is not None:
            on_thread: Callable[..., Awaitable[Any]] = self._execute
            try:
                await on_thread(self._conn.execute, begin)
            finally:
                self.transaction_open = self._conn.in_transaction

    async def commit(self) -> None:
        self.begin_with = None
        if self.transaction_open:
            if self.on_loop:
                self._conn.commit()
            else:
                await super().commit()
            self.transaction_open = False

    async def rollback(self) -> None:
        self.begin_with = None
        if self.transaction_open:
            if self.on_loop:
                self._conn.rollback()
            else:
                await super().rollback()
            self.transaction_open = False


def _one_trip_connect(database: str, **kwargs: Any) -> _OneTripConnection:
    """``aiosqlite.connect`` with the cursor above; SQLAlchemy's ``async_creator_fn`` hook
    hands it the arguments it would have given ``aiosqlite.connect``."""
    # Used from the event loop's thread too, never at the same time (write(quick=True)).
    kwargs["check_same_thread"] = False
    connection = _OneTripConnection(partial(sqlite3.connect, database, **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection


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
            one_trip = {"async_creator_fn": _one_trip_connect}
            self.reader = create_async_engine(
                url,
                echo=echo,
                poolclass=AsyncAdaptedQueuePool,
                pool_size=4,
                max_overflow=4,
                connect_args=one_trip,
            )
            self.writer = create_async_engine(
                url,
                echo=echo,
                connect_args=one_trip,
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
        self._watchers: list[tuple[frozenset[Change], Callable[[], None]]] = []
        # Reader connections kept between quick reads on SQLite (``_quick_read``).
        self._held: list[AsyncConnection] = []
        # The writer connection kept between writes on SQLite, and the queue of writers
        # (``writer_connection``).
        self._writer_held: AsyncConnection | None = None
        self._write_lock = asyncio.Lock()
        event.listen(self.writer.sync_engine, "after_cursor_execute", _note_change)

    def after_commit_of(self, changes: Iterable[Change], callback: Callable[[], None]) -> None:
        """Call ``callback`` once each ``write()`` transaction of this process that ran one of
        ``changes`` (e.g. ``("delete", "devices")``) has committed, before ``write()`` returns.
        Cascades are not seen: watch the parent table too. What lets a cache of this process
        forget at once what the database no longer says."""
        self._watchers.append((frozenset(changes), callback))

    @asynccontextmanager
    async def read(self, *, quick: bool = False) -> AsyncIterator[AsyncConnection]:
        """A transaction that only reads: a consistent snapshot, and writing through it fails.

        SQLite gives the snapshot (WAL) and refuses writes (``query_only``) on the reader
        connections; PostgreSQL is asked for the same (REPEATABLE READ, READ ONLY), since its
        default READ COMMITTED would let two statements of one export see different states.
        """
        if quick and self.is_sqlite:
            async with self._quick_read() as conn:
                yield conn
            return
        async with self.reader.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            driver = _driver_of(conn) if quick and self.is_sqlite else None
            if driver is not None:
                driver.on_loop = True
            try:
                async with conn.begin():
                    yield conn
            finally:
                if driver is not None:
                    driver.on_loop = False

    @asynccontextmanager
    async def _quick_read(self) -> AsyncIterator[AsyncConnection]:
        """``read(quick=True)`` on SQLite, all of it on the event loop's thread.

        Its reader connection stays checked out of the pool between quick reads (``_held``):
        checking one out and back in, with SQLAlchemy's transaction around it, cost about 90%
        of a read of the caller's profile (docs/benchmarks.md). The transaction is the
        driver's own: ``BEGIN`` goes with the first statement, and the end is a ROLLBACK (it
        only read), through SQLAlchemy if a statement of its began its transaction too. A read
        that waits on something else meanwhile holds its connection; another quick read takes
        another one."""
        conn = self._held.pop() if self._held else await self.reader.connect()
        driver = _driver_of(conn)
        if driver is None:  # every SQLite connection registers its driver when it opens
            await conn.close()
            raise RuntimeError("a SQLite connection without its driver")
        driver.on_loop = True
        driver.begin_with = "BEGIN"
        try:
            yield conn
        finally:
            # Kept after a read that failed too (a chat not found), once it rolled back.
            keep = False
            try:
                if conn.in_transaction():  # a statement through SQLAlchemy began one too
                    await conn.rollback()
                else:
                    await driver.rollback()
                keep = not conn.invalidated and not driver.transaction_open
            finally:
                driver.on_loop = False
                if keep and len(self._held) < _HELD_READERS:
                    self._held.append(conn)
                else:
                    await conn.close()

    @asynccontextmanager
    async def write(self, *, quick: bool = False) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes: all of it commits, or none of it (nothing half-written).

        ``quick``: its statements are short, and on SQLite run on the event loop's thread
        (see the module's docstring); durability is the same (COMMIT as ever)."""
        async with self.writer_connection() as conn:
            conn.info.pop(CHANGES_KEY, None)  # a transaction that rolled back left its notes
            driver = _driver_of(conn) if quick and self.is_sqlite else None
            if driver is None:
                async with conn.begin():
                    yield conn
            else:
                # The driver's own transaction, as a quick read's: BEGIN IMMEDIATE on its own
                # trip, COMMIT on another (the fsync), no SQLAlchemy transaction around them
                # unless one of its statements began one too (then it ends it).
                driver.quick = True
                driver.begin_with = "BEGIN IMMEDIATE"
                try:
                    await driver.begin_now()
                    yield conn
                    await (conn.commit() if conn.in_transaction() else driver.commit())
                except BaseException:
                    await (conn.rollback() if conn.in_transaction() else driver.rollback())
                    raise
                finally:
                    driver.quick = False
            changes: set[Change] | None = conn.info.pop(CHANGES_KEY, None)
        if changes and self._watchers:
            for watched, callback in self._watchers:
                if watched & changes:
                    callback()

    @asynccontextmanager
    async def writer_connection(self) -> AsyncIterator[AsyncConnection]:
        """The connection writes go through, with no transaction begun (``write()`` begins
        one; migrations and the WAL checkpoint use it as it is), once the write under way is
        done. Every use of the writer goes through here, never ``self.writer.connect()``.

        On SQLite the one writer connection stays checked out of its pool between writes,
        behind a lock that queues the writers as the pool of one did: checking it out and
        back in (with the pool's reset) cost about a third of a short write's envelope
        (docs/benchmarks.md). A use that fails with the connection in doubt (invalidated,
        or a transaction left open) closes it, and the next write opens a new one."""
        if not self.is_sqlite:
            async with self.writer.connect() as conn:
                yield conn
            return
        async with self._write_lock:
            held = self._writer_held
            if held is None or held.closed or held.invalidated:
                held = self._writer_held = await self.writer.connect()
            conn = held
            try:
                yield conn
            finally:
                # A write that failed and rolled back leaves it as good as before (a refused
                # request must not cost a new connection); one left open or invalidated not.
                # Invalidated first: anything else asked of an invalidated connection (even its
                # ``info``) opens a new one, and what that raises would hide the exception
                # under way, a cancel among them (domain/background.py).
                if (
                    conn.invalidated
                    or conn.in_transaction()
                    or (driver := _driver_of(conn)) is None
                    or driver.transaction_open
                ):
                    self._writer_held = None
                    await conn.close()

    async def dispose(self) -> None:
        writer, self._writer_held = self._writer_held, None
        if writer is not None:
            await writer.close()
        held, self._held = self._held, []
        for conn in held:
            await conn.close()
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self.writer


def _driver_of(conn: AsyncConnection) -> _OneTripConnection | None:
    """The driver connection every SQLite connection registered when it opened."""
    driver = conn.info.get(DRIVER_KEY)
    return driver if isinstance(driver, _OneTripConnection) else None


def _note_change(
    conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    change = change_of(statement)
    if change is not None:
        conn.info.setdefault(CHANGES_KEY, set()).add(change)


def _begin_with(statement: str) -> Any:
    def on_begin(conn: Any) -> None:
        driver = conn.connection.driver_connection
        # In a quick read, a prepared statement may have begun the transaction before a
        # statement through SQLAlchemy makes it begin its own: BEGIN was sent already.
        if not driver.transaction_open:
            driver.begin_with = statement

    return on_begin
