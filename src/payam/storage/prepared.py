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
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, exc, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from payam.storage.database import CHANGES_KEY, DRIVER_KEY, change_of

# SQL text, parameter names in the driver's order, the compiled statement's own values (its
# literals, e.g. ``IS false``), and the change an UPDATE or DELETE makes.
_Compiled = tuple[str, tuple[str, ...], dict[str, Any], tuple[str, str] | None]


class Prepared:
    """One statement, compiled once per dialect. Parameters are given by bind name, or, when
    the statement declares its ``order`` (checked when it is compiled), as tuples in that
    order: a group message's update rows, one per member, are not copied again."""

    def __init__(self, statement: ClauseElement, order: tuple[str, ...] | None = None) -> None:
        self._statement = statement
        self._order = order
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            sql = str(compiled)
            names = tuple(compiled.positiontup or ())
            assert names or not compiled.params, "a positional paramstyle is expected"
            if self._order is not None and names != self._order:
                raise ValueError(f"the statement takes {names}, not {self._order}")
            found = (sql, names, dict(compiled.params), change_of(sql))
            self._compiled[dialect.name] = found
        return found

    def _values(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[Any, ...]:
        _sql, names, defaults, _change = self._for(dialect)
        return tuple(params[n] if n in params else defaults[n] for n in names)

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return await self.rows_in_order(conn, self._values(conn.dialect, params))

    async def rows_in_order(
        self, conn: AsyncConnection, values: Sequence[Any]
    ) -> list[Sequence[Any]]:
        sql, _names, _defaults, change = self._for(conn.dialect)
        driver = _driver_here(conn)
        if driver is None:
            return list((await conn.exec_driver_sql(sql, tuple(values))).all())
        return _here(driver, conn, sql, values, change, many=False)

    def each(
        self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]
    ) -> list[list[Sequence[Any]]] | None:
        """The rows of the statement run once per parameter set, if this transaction runs on
        the event loop's thread (where one statement per row costs a few µs); None elsewhere,
        where the caller's one multi-row statement is cheaper than a trip per row."""
        driver = _driver_here(conn)
        if driver is None:
            return None
        sql, _names, _defaults, change = self._for(conn.dialect)
        return [
            _here(driver, conn, sql, self._values(conn.dialect, p), change, many=False)
            for p in params
        ]

    async def run_many(self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]) -> None:
        await self.run_many_in_order(conn, [self._values(conn.dialect, p) for p in params])

    async def run_many_in_order(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql, _names, _defaults, change = self._for(conn.dialect)
        driver = _driver_here(conn)
        if driver is None:
            await conn.exec_driver_sql(sql, list(rows))
            return
        _here(driver, conn, sql, rows, change, many=True)


@cache
def insert_of(table: Table, keys: tuple[str, ...], returning: str | None = None) -> Prepared:
    """``INSERT INTO table (keys...)``, with ``RETURNING`` one column if asked: one statement
    per table and set of keys, built and compiled once."""
    statement = insert(table).values({key: bindparam(key) for key in keys})
    if returning is not None:
        statement = statement.returning(table.c[returning])
    return Prepared(statement)


class PreparedBySize:
    """A statement that takes a list (``IN (...)``, or an ``OR`` of pairs), one ``Prepared``
    per list size rounded up to a power of two (the last item repeated: a list with an item
    twice finds the same rows): at most a dozen statements, each compiled once.
    ``build(size)`` binds the list's values as ``v0``, ``v1``, ... and nothing else; an item
    of ``width`` 2 is a pair, bound as two values."""

    def __init__(
        self, build: Callable[[int], ClauseElement], limit: int = 512, width: int = 1
    ) -> None:
        self._build = build
        self.limit = limit
        self.width = width
        self._by_size: dict[int, Prepared] = {}

    async def rows(self, conn: AsyncConnection, items: Sequence[Any]) -> list[Sequence[Any]]:
        """Rows for ``items`` in chunks of ``limit``."""
        found: list[Sequence[Any]] = []
        for start in range(0, len(items), self.limit):
            chunk = list(items[start : start + self.limit])
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            prepared = self._by_size.get(size)
            if prepared is None:
                order = tuple(f"v{i}" for i in range(size * self.width))
                prepared = self._by_size[size] = Prepared(self._build(size), order)
            values = chunk if self.width == 1 else [v for item in chunk for v in item]
            found.extend(await prepared.rows_in_order(conn, values))
        return found


def _driver_here(conn: AsyncConnection) -> Any:
    """The SQLite driver connection, if this transaction's statements run on this thread now
    (``storage/database.py``: ``runs_here``); None otherwise, and always on PostgreSQL."""
    driver = conn.info.get(DRIVER_KEY)
    return driver if driver is not None and driver.runs_here else None


def _here(
    driver: Any,
    conn: AsyncConnection,
    sql: str,
    values: Any,
    change: tuple[str, str] | None,
    *,
    many: bool,
) -> list[Sequence[Any]]:
    """Run on the sqlite3 connection through the driver's ``run_here``, as ``execute`` would
    be seen: by ``before_cursor_execute`` listeners, by ``after_commit_of``, with SQLAlchemy's
    errors."""
    sync = conn.sync_connection
    if sync is not None and sync.dispatch.before_cursor_execute:
        # Whoever watches statements (a tracer, a test counting them) sees these too.
        sync.dispatch.before_cursor_execute(sync, None, sql, values, None, many)
    if change is not None:
        conn.info.setdefault(CHANGES_KEY, set()).add(change)
    try:
        rows: list[Sequence[Any]] = driver.run_here(many, sql, values)[3]
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, values, error, sqlite3.Error) from error
    return rows
