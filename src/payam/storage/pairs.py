"""Rows found by a two-column key, one index lookup per key, on SQLite and PostgreSQL.

``(a, b) IN ((?, ?), ...)`` reads well but SQLite plans it as a scan of the whole table
(``EXPLAIN QUERY PLAN``: ``SCAN messages``), so the send path's idempotency, block and hidden
lookups grew with the data: 40 ms for 200 keys at 200,000 messages. An ``OR`` of
``(a = ? AND b = ?)`` is one lookup in the index on ``(a, b)`` per key on both databases
(SQLite: ``MULTI-INDEX OR``; PostgreSQL: ``BitmapOr``): 2 ms for the same 200 keys.

Building and hashing a 400-term expression on every call cost more than the lookup (15 ms),
so each statement is built once per size and kept. Sizes are rounded up to a power of two by
repeating the last key (a repeated key finds the same row, which both databases report once):
at most nine statements per query, each compiled once and run by the driver as it is
(``storage/prepared.py``, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payam.storage.prepared import Prepared

# Keys per statement: 512 parameters, under every SQLite's limit (999 before 3.32).
CHUNK = 256


class PairLookup:
    """``base`` narrowed to the rows whose ``(first, second)`` is one of the keys given."""

    def __init__(
        self, base: Select[Any], first: ColumnElement[Any], second: ColumnElement[Any]
    ) -> None:
        self._base = base
        self._first = first
        self._second = second
        self._statements: dict[int, Select[Any]] = {}
        self._prepared: dict[int, Prepared] = {}

    def statement(self, size: int) -> Select[Any]:
        """The statement for ``size`` keys (a power of two), with parameters a0, b0, a1..."""
        found = self._statements.get(size)
        if found is None:
            found = self._base.where(
                or_(
                    *(
                        and_(self._first == bindparam(f"a{i}"), self._second == bindparam(f"b{i}"))
                        for i in range(size)
                    )
                )
            )
            self._statements[size] = found
        return found

    async def rows(
        self, conn: AsyncConnection, keys: Sequence[tuple[Any, Any]]
    ) -> list[Sequence[Any]]:
        """The rows, as plain tuples in the statement's column order (storage/prepared.py)."""
        wanted = list(dict.fromkeys(keys))
        found: list[Sequence[Any]] = []
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            prepared = self._prepared.get(size)
            if prepared is None:
                prepared = self._prepared[size] = Prepared(self.statement(size))
            params: dict[str, Any] = {}
            for i, (a, b) in enumerate(chunk):
                params[f"a{i}"] = a
                params[f"b{i}"] = b
            found.extend(await prepared.rows(conn, params))
        return found
