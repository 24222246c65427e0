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

from payam.storage.prepared import PreparedBySize

# Keys per statement: 512 parameters, under every SQLite's limit (999 before 3.32).
CHUNK = 256


class PairLookup(PreparedBySize):
    """``base`` narrowed to the rows whose ``(first, second)`` is one of the keys given."""

    def __init__(
        self, base: Select[Any], first: ColumnElement[Any], second: ColumnElement[Any]
    ) -> None:
        def build(size: int) -> Select[Any]:
            return base.where(
                or_(
                    *(
                        and_(first == bindparam(f"v{2 * i}"), second == bindparam(f"v{2 * i + 1}"))
                        for i in range(size)
                    )
                )
            )

        super().__init__(build, limit=CHUNK, width=2)

    async def rows(
        self, conn: AsyncConnection, items: Sequence[tuple[Any, Any]]
    ) -> list[Sequence[Any]]:
        """The rows, as plain tuples in the statement's column order (storage/prepared.py)."""
        return await super().rows(conn, list(dict.fromkeys(items)))
