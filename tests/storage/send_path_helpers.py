"""What the send-path storage tests share: a migrated database, users and chats to point at,
and a recorder of the SQL statements a block of code sends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage import chats, users
from payam.storage.database import Database


@dataclass
class Sent:
    """The statements sent to the database (SQL text and parameters), in order."""

    statements: list[tuple[str, Any]] = field(default_factory=list)

    def matching(self, start: str) -> list[tuple[str, Any]]:
        return [(sql, p) for sql, p in self.statements if sql.lstrip().upper().startswith(start)]


@contextlib.contextmanager
def recording(db: Database) -> Iterator[Sent]:
    sent = Sent()

    def note(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        sent.statements.append((sql, parameters))

    engines = {db.writer.sync_engine, db.reader.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)


async def make_users(conn: AsyncConnection, count: int) -> list[int]:
    made = []
    for i in range(count):
        phone = f"+98912{i:07d}"
        user = await users.create(
            conn, phone=phone, phone_hash=phone.encode(), name=f"user {i}", now=1.0
        )
        made.append(user.id)
    return made


async def make_groups(conn: AsyncConnection, owner: int, count: int) -> list[int]:
    return [
        await chats.create(
            conn, type_="group", title=f"g{i}", direct=None, created_by=owner, now=1.0
        )
        for i in range(count)
    ]


async def sqlite_plan(conn: AsyncConnection, sql: str, parameters: Any) -> str:
    """SQLite's EXPLAIN QUERY PLAN of a statement as it was sent, one step per line."""
    rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)
    return "\n".join(str(row[-1]) for row in rows)
