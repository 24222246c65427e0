"""Statements of the hot paths, compiled once per dialect and handed to the driver as they are.

A statement run through SQLAlchemy's ``execute`` costs 150-250 µs of Python on this project's
machine before the database sees it (building the expression, its cache key, the execution
context, the result's processing), and a lone send ran a dozen of them: that, not SQLite, was
most of its CPU (docs/benchmarks.md, issue #12). A ``Prepared`` statement is built and compiled
once per dialect; a call turns its parameters into the driver's positional tuple and:

- inside a transaction that runs on the event loop's thread (SQLite, ``read(quick=True)`` or
  the statements after the first of ``write(quick=True)``), calls ``sqlite3`` directly: a few
  µs for a lookup by key;
- anywhere else (PostgreSQL, or a transaction whose statements go to the connection's
  thread), hands the compiled text to ``exec_driver_sql``: no building, no cache key.

Errors come out as SQLAlchemy's (``IntegrityError`` and the rest), rows as plain tuples in the
statement's column order, an ``UPDATE`` or ``DELETE`` is noted for ``after_commit_of`` as
through ``execute``, and ``before_cursor_execute`` listeners see every statement. Only
statements whose result types need no conversion belong here (integers, text, floats, bytes);
a boolean column comes back as 0 or 1 on SQLite, so its reader converts it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from payam.storage.database import CHANGES_KEY, DRIVER_KEY, change_of

# SQL text, parameter names in the driver's order, the compiled statement's own values (its
# literals, e.g. ``IS false``), and the change an UPDATE or DELETE makes.
_Compiled = tuple[str, tuple[str, ...], dict[str, Any], tuple[str, str] | None]


class Prepared:
    """One statement, compiled once per dialect. Parameters are given by bind name."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            sql = str(compiled)
            names = tuple(compiled.positiontup or ())
            assert names or not compiled.params, "a positional paramstyle is expected"
            found = (sql, names, dict(compiled.params), change_of(sql))
            self._compiled[dialect.name] = found
        return found

    def takes_only_list(self, dialect: Dialect, size: int) -> bool:
        """Whether the statement's parameters are exactly ``v0`` ... ``v{size-1}``, in order."""
        return self._for(dialect)[1] == tuple(f"v{i}" for i in range(size))

    async def rows_positional(
        self, conn: AsyncConnection, values: tuple[Any, ...]
    ) -> list[Sequence[Any]]:
        """``rows`` with the driver's tuple already built (see ``takes_only_list``)."""
        sql, _names, _defaults, change = self._for(conn.dialect)
        raw = _on_loop(conn)
        if raw is None:
            return list((await conn.exec_driver_sql(sql, values)).all())
        _note(conn, change)
        return _sqlite(raw, conn, sql, values, many=False)

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        sql, names, defaults, change = self._for(conn.dialect)
        values = tuple(params[n] if n in params else defaults[n] for n in names)
        raw = _on_loop(conn)
        if raw is None:
            return list((await conn.exec_driver_sql(sql, values)).all())
        _note(conn, change)
        return _sqlite(raw, conn, sql, values, many=False)

    def each(
        self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]
    ) -> list[list[Sequence[Any]]] | None:
        """The rows of the statement run once per parameter set, if this transaction runs on
        the event loop's thread (where one statement per row costs a few µs); None elsewhere,
        where the caller's one multi-row statement is cheaper than a trip per row."""
        raw = _on_loop(conn)
        if raw is None:
            return None
        sql, names, defaults, change = self._for(conn.dialect)
        _note(conn, change)
        return [
            _sqlite(
                raw, conn, sql, tuple(p[n] if n in p else defaults[n] for n in names), many=False
            )
            for p in params
        ]

    async def run_many_positional(
        self, conn: AsyncConnection, order: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> None:
        """``run_many`` for rows already in the driver's order, ``order`` (checked once per
        dialect): a group message's update rows, one per member, are not copied again."""
        if not rows:
            return
        sql, names, _defaults, change = self._for(conn.dialect)
        if names != order:
            raise ValueError(f"the statement takes {names}, not {order}")
        raw = _on_loop(conn)
        if raw is None:
            await conn.exec_driver_sql(sql, list(rows))
            return
        _note(conn, change)
        _sqlite(raw, conn, sql, rows, many=True)

    async def run_many(self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]) -> None:
        if not params:
            return
        sql, names, defaults, change = self._for(conn.dialect)
        values = [tuple(p[n] if n in p else defaults[n] for n in names) for p in params]
        raw = _on_loop(conn)
        if raw is None:
            await conn.exec_driver_sql(sql, values)
            return
        _note(conn, change)
        _sqlite(raw, conn, sql, values, many=True)


class PreparedBySize:
    """A statement that takes a list (``IN (...)``), one ``Prepared`` per list size rounded up
    to a power of two (the last value repeated: an ``IN`` list with a value twice finds the
    same rows): at most a dozen statements, each compiled once."""

    def __init__(self, build: Callable[[int], ClauseElement], limit: int = 512) -> None:
        self._build = build
        self.limit = limit
        self._by_size: dict[int, Prepared] = {}
        self._positional: dict[tuple[str, int], bool] = {}

    async def rows(
        self,
        conn: AsyncConnection,
        values: Sequence[Any],
        params: Mapping[str, Any] | None = None,
    ) -> list[Sequence[Any]]:
        """Rows for ``values`` (bound as ``v0``, ``v1``, ...) in chunks of ``limit``."""
        found: list[Sequence[Any]] = []
        for start in range(0, len(values), self.limit):
            chunk = list(values[start : start + self.limit])
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            prepared = self._by_size.get(size)
            if prepared is None:
                prepared = self._by_size[size] = Prepared(self._build(size))
            key = (conn.dialect.name, size)
            positional = self._positional.get(key)
            if positional is None:
                positional = self._positional[key] = prepared.takes_only_list(conn.dialect, size)
            if not params and positional:
                found.extend(await prepared.rows_positional(conn, tuple(chunk)))
                continue
            bound = {f"v{i}": value for i, value in enumerate(chunk)}
            if params:
                bound.update(params)
            found.extend(await prepared.rows(conn, bound))
        return found


def _on_loop(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection, if this transaction's statements run on this thread now."""
    driver = conn.info.get(DRIVER_KEY)
    if driver is None:
        return None
    if driver.on_loop:
        if driver.begin_with is not None:  # the first statement of a quick read
            begin, driver.begin_with = driver.begin_with, None
            driver._conn.execute(begin)
            driver.transaction_open = True
        return driver._conn  # type: ignore[no-any-return]
    if driver.quick and driver.begin_with is None and driver.transaction_open:
        return driver._conn  # type: ignore[no-any-return]
    return None


def _sqlite(
    raw: sqlite3.Connection, conn: AsyncConnection, sql: str, values: Any, *, many: bool
) -> list[Sequence[Any]]:
    sync = conn.sync_connection
    if sync is not None and sync.dispatch.before_cursor_execute:
        # Whoever watches statements (a tracer, a test counting them) sees these too.
        sync.dispatch.before_cursor_execute(sync, None, sql, values, None, many)
    try:
        cursor = raw.executemany(sql, values) if many else raw.execute(sql, values)
        try:
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
    except sqlite3.Error as error:
        conn.info[DRIVER_KEY].transaction_open = True  # the ROLLBACK must not be skipped
        raise exc.DBAPIError.instance(sql, values, error, sqlite3.Error) from error


def _note(conn: AsyncConnection, change: tuple[str, str] | None) -> None:
    if change is not None:
        conn.info.setdefault(CHANGES_KEY, set()).add(change)
