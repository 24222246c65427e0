"""Prepared statements (storage/prepared.py) and quick reads: the send path's statements run
by the driver as they are, on SQLite on the event loop's thread, and must behave exactly as
the same statements through SQLAlchemy: the same rows, the same errors, nothing half written,
and the session cache told of a change (P9.1: a signed-out token stops working at once)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from payam.storage import migrate
from payam.storage.database import Database
from payam.storage.prepared import Prepared, PreparedBySize
from payam.storage.tables import devices, users
from tests.storage.test_database import add_user, count, sqlite_url

_NAMES = PreparedBySize(
    lambda size: (
        select(users.c.id, users.c.name)
        .where(users.c.id.in_([bindparam(f"v{i}") for i in range(size)]))
        .order_by(users.c.id)
    )
)
_RENAME = Prepared(update(users).where(users.c.id == bindparam("uid")).values(name=bindparam("n")))
_NEW_DEVICE = Prepared(
    insert(devices).values(
        user_id=bindparam("uid"),
        token_hash=bindparam("t"),
        model="m",
        os="o",
        app_version="1",
        created_at=0.0,
        last_active_at=0.0,
    )
)


async def test_prepared_statements_read_and_write_like_execute(db: Database) -> None:
    async with db.write(quick=True) as conn:
        ids = [await add_user(conn, n) for n in range(7)]
        await _RENAME.run_many(conn, [{"uid": ids[0], "n": "zero"}, {"uid": ids[6], "n": "six"}])
    for quick in (False, True):
        async with db.read(quick=quick) as conn:
            # 3 ids: padded to 4 by repeating the last; each row comes once.
            rows = await _NAMES.rows(conn, [ids[6], ids[0], ids[3]])
            assert [tuple(r) for r in rows] == [
                (ids[0], "zero"),
                (ids[3], "user 3"),
                (ids[6], "six"),
            ]
            assert await _NAMES.rows(conn, []) == []
    async with db.write() as conn:  # a plain write: through exec_driver_sql
        await _RENAME.run_many(conn, [{"uid": ids[3], "n": "three"}])
    async with db.read() as conn:
        assert [tuple(r) for r in await _NAMES.rows(conn, [ids[3]])] == [(ids[3], "three")]


async def test_a_prepared_statement_that_fails_leaves_nothing_written(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write(quick=True) as conn:
            await add_user(conn, 1)
            await _RENAME.run_many(conn, [{"uid": 1, "n": "renamed"}])
            await _NEW_DEVICE.run_many(conn, [{"uid": 424242, "t": b"t" * 32}])  # no such user
    assert await count(db, users) == 0
    async with db.write(quick=True) as conn:  # the connection is usable afterwards
        await add_user(conn, 2)
    assert await count(db, users) == 1


async def test_a_prepared_change_is_seen_by_after_commit_watchers(db: Database) -> None:
    heard: list[str] = []
    db.after_commit_of([("update", "users")], lambda: heard.append("users"))
    async with db.write(quick=True) as conn:
        uid = await add_user(conn, 1)
    heard.clear()  # add_user does not update; but be exact about what follows
    async with db.write(quick=True) as conn:
        await add_user(conn, 2)  # the first statement (BEGIN travels with it)
        await _RENAME.run_many(conn, [{"uid": uid, "n": "x"}])  # on the loop's thread
    assert heard == ["users"]


async def test_a_quick_read_makes_no_trip_to_the_connection_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(sqlite_url(tmp_path / "q.sqlite3"))
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            uid = await add_user(conn, 1)
        async with db.read(quick=True) as conn:  # opens the reader before counting
            await conn.execute(select(users.c.id))
        trips: list[object] = []
        original = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            trips.append(fn)
            return await original(self, fn, *args, **kw)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.read(quick=True) as conn:
            assert [tuple(r) for r in await _NAMES.rows(conn, [uid])] == [(uid, "user 1")]
            assert (await conn.execute(select(users.c.name))).scalar_one() == "user 1"
        assert trips == []
        async with db.read() as conn:  # a plain read still goes to the thread
            await conn.execute(select(users.c.id))
        assert len(trips) >= 1
    finally:
        await db.dispose()


def _fail_midway() -> None:
    raise LookupError("the caller's own failure, mid-read")


async def test_a_quick_read_sees_what_committed_after_the_one_before_it(db: Database) -> None:
    """Quick reads keep their connection between reads (database.py, ``_quick_read``): each
    must still be a new snapshot, whether it ran prepared statements, SQLAlchemy's, or both
    in either order, and whether the one before it failed."""
    async with db.write() as conn:
        uid = await add_user(conn, 1)
    names = select(users.c.name).where(users.c.id == uid)
    for n, order in enumerate(("prepared", "sqlalchemy", "both", "sqlalchemy first", "fails")):
        async with db.write(quick=True) as conn:
            await _RENAME.run_many(conn, [{"uid": uid, "n": f"name {n}"}])
        seen: list[str] = []
        with contextlib.suppress(LookupError):
            async with db.read(quick=True) as conn:
                if order in ("prepared", "both", "fails"):
                    seen += [r[1] for r in await _NAMES.rows(conn, [uid])]
                if order in ("sqlalchemy", "both", "sqlalchemy first"):
                    seen.append((await conn.execute(names)).scalar_one())
                if order == "sqlalchemy first":
                    seen += [r[1] for r in await _NAMES.rows(conn, [uid])]
                if order == "fails":
                    _fail_midway()
        assert seen and set(seen) == {f"name {n}"}, order


async def test_quick_reads_that_overlap_each_have_their_own_snapshot(db: Database) -> None:
    async with db.write() as conn:
        uid = await add_user(conn, 1)
    started, renamed = asyncio.Event(), asyncio.Event()

    async def slow_reader() -> tuple[str, str]:
        async with db.read(quick=True) as conn:
            (first,) = [r[1] for r in await _NAMES.rows(conn, [uid])]
            started.set()
            await renamed.wait()  # another task reads and writes meanwhile
            (again,) = [r[1] for r in await _NAMES.rows(conn, [uid])]
            return first, again

    task = asyncio.create_task(slow_reader())
    await started.wait()
    async with db.write(quick=True) as conn:
        await _RENAME.run_many(conn, [{"uid": uid, "n": "renamed"}])
    async with db.read(quick=True) as conn:
        assert [r[1] for r in await _NAMES.rows(conn, [uid])] == ["renamed"]
    renamed.set()
    # On SQLite the slow reader's snapshot is its own (WAL): it still sees the name it began
    # with; PostgreSQL's REPEATABLE READ says the same.
    assert await task == ("user 1", "user 1")
    async with db.read(quick=True) as conn:
        assert [r[1] for r in await _NAMES.rows(conn, [uid])] == ["renamed"]


async def test_a_quick_read_cannot_write(db: Database) -> None:
    async with db.write() as conn:
        uid = await add_user(conn, 1)
    with pytest.raises(DBAPIError):
        async with db.read(quick=True) as conn:
            await _RENAME.run_many(conn, [{"uid": uid, "n": "sneaked in"}])
    async with db.read(quick=True) as conn:
        assert [r[1] for r in await _NAMES.rows(conn, [uid])] == ["user 1"]
