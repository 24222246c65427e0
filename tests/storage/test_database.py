"""The database door: pragmas really on, writers never collide, transactions all or nothing.

P5.3 needs ``secure_delete`` (deleted rows are zeroed in the file), P9.2 needs "nothing
half-written", and a busy server needs many concurrent writers to commit without
``database is locked``. These tests look at the real connections, not the configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from payam.storage import migrate
from payam.storage.database import Database
from payam.storage.tables import devices, rate_limits, users
from tests.conftest import DatabaseTarget

PRAGMAS = ("journal_mode", "foreign_keys", "secure_delete", "synchronous")
SYNCHRONOUS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


class Boom(Exception):
    pass


@pytest.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    opened = Database(database.url, schema=database.schema, sqlite_synchronous="NORMAL")
    await migrate.upgrade(opened)
    try:
        yield opened
    finally:
        await opened.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def pragmas_of(conn: object) -> dict[str, object]:
    values = {}
    for name in PRAGMAS:
        values[name] = (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()  # type: ignore[attr-defined]
    return values


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL", "EXTRA"])
async def test_sqlite_pragmas_are_on_for_every_reader_and_the_writer(
    tmp_path: Path, synchronous: str
) -> None:
    db = Database(sqlite_url(tmp_path / "p.sqlite3"), sqlite_synchronous=synchronous)
    expected = {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "secure_delete": 1,
        "synchronous": SYNCHRONOUS[synchronous],
    }
    try:
        seen: list[dict[str, object]] = []
        all_open, release = asyncio.Event(), asyncio.Event()

        async def reader() -> None:
            # Held open together, so each is a different pooled connection.
            async with db.read() as conn:
                seen.append(await pragmas_of(conn))
                if len(seen) == 4:
                    all_open.set()
                await release.wait()

        readers = [asyncio.create_task(reader()) for _ in range(4)]
        await asyncio.wait_for(all_open.wait(), 10)
        async with db.write() as conn:
            seen.append(await pragmas_of(conn))
        release.set()
        await asyncio.gather(*readers)
        assert seen == [expected] * 5
    finally:
        await db.dispose()


async def test_sqlite_default_synchronous_is_full(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "p.sqlite3"))
    try:
        async with db.write() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2
    finally:
        await db.dispose()


async def test_sqlite_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Database(sqlite_url(tmp_path / "p.sqlite3"), sqlite_synchronous="sometimes")


async def test_sqlite_database_file_is_created_under_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite3"
    db = Database(sqlite_url(path))
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()
    assert path.is_file()


async def add_user(conn: object, n: int) -> int:
    result = await conn.execute(  # type: ignore[attr-defined]
        insert(users)
        .values(
            phone=f"+98912{n:07d}",
            phone_hash=n.to_bytes(32, "big"),
            name=f"user {n}",
            created_at=0.0,
            updated_at=0.0,
        )
        .returning(users.c.id)
    )
    user_id: int = result.scalar_one()
    return user_id


async def count(db: Database, table: object) -> int:
    async with db.read() as conn:
        found: int = (await conn.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]
        return found


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(
                insert(devices).values(
                    user_id=424242,
                    token_hash=b"t" * 32,
                    model="m",
                    os="o",
                    app_version="1",
                    created_at=0.0,
                    last_active_at=0.0,
                )
            )
    assert await count(db, devices) == 0


async def test_many_concurrent_writers_all_commit(db: Database) -> None:
    """200 tasks write at once (and readers read meanwhile): every write commits, none is
    refused with 'database is locked'."""
    async with db.write() as conn:
        await conn.execute(insert(rate_limits).values(key="counter", tokens=0.0, updated_at=0.0))

    async def writer(n: int) -> None:
        async with db.write() as conn:
            await add_user(conn, n)
            await conn.execute(
                update(rate_limits)
                .where(rate_limits.c.key == "counter")
                .values(tokens=rate_limits.c.tokens + 1)
            )

    async def reader() -> int:
        return await count(db, users)

    results = await asyncio.gather(
        *(writer(n) for n in range(200)), *(reader() for _ in range(50)), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    assert await count(db, users) == 200
    async with db.read() as conn:
        tokens = (
            await conn.execute(select(rate_limits.c.tokens).where(rate_limits.c.key == "counter"))
        ).scalar_one()
    assert tokens == 200


async def test_two_processes_worth_of_engines_can_write_the_same_sqlite_file(
    tmp_path: Path,
) -> None:
    """The server and ``payam maintenance prune`` each open the file: they wait, not fail."""
    url = sqlite_url(tmp_path / "shared.sqlite3")
    first, second = Database(url), Database(url)
    try:
        await migrate.upgrade(first)

        async def writer(db: Database, n: int) -> None:
            async with db.write() as conn:
                await add_user(conn, n)
                await asyncio.sleep(0.001)  # hold the write lock across a switch

        await asyncio.gather(*(writer(first if n % 2 else second, n) for n in range(60)))
        assert await count(first, users) == 60
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_long_read_does_not_block_writers(db: Database) -> None:
    async with db.read() as reading:
        before = (await reading.execute(select(func.count()).select_from(users))).scalar_one()
        async with asyncio.timeout(10):
            async with db.write() as conn:
                await add_user(conn, 1)
        # The open read keeps its snapshot; a new read sees the commit.
        again = (await reading.execute(select(func.count()).select_from(users))).scalar_one()
        assert again == before == 0
    assert await count(db, users) == 1


async def test_a_failing_transaction_leaves_nothing_written(db: Database) -> None:
    with pytest.raises(Boom):
        async with db.write() as conn:
            user_id = await add_user(conn, 1)
            await conn.execute(
                insert(devices).values(
                    user_id=user_id,
                    token_hash=b"t" * 32,
                    model="m",
                    os="o",
                    app_version="1",
                    created_at=0.0,
                    last_active_at=0.0,
                )
            )
            raise Boom
    assert await count(db, users) == 0
    assert await count(db, devices) == 0


async def test_a_constraint_violation_midway_undoes_the_earlier_writes(db: Database) -> None:
    async with db.write() as conn:
        await add_user(conn, 1)
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await add_user(conn, 2)
            await add_user(conn, 1)  # the same number again: unique violation
    assert await count(db, users) == 1
    # The writer is usable afterwards (on SQLite it is one connection; it must not be stuck).
    async with db.write() as conn:
        await add_user(conn, 3)
    assert await count(db, users) == 2


async def test_writes_are_not_visible_before_commit(db: Database) -> None:
    started, proceed = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with db.write() as conn:
            await add_user(conn, 7)
            started.set()
            await proceed.wait()

    task = asyncio.create_task(slow_writer())
    await started.wait()
    assert await count(db, users) == 0
    proceed.set()
    await task
    assert await count(db, users) == 1


async def test_the_tables_are_where_the_settings_say(database: DatabaseTarget) -> None:
    """The SQLite file of the URL, or the PostgreSQL schema given (never ``public`` by accident)."""
    db = Database(database.url, schema=database.schema)
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            if database.backend == "sqlite":
                files = (await conn.exec_driver_sql("PRAGMA database_list")).all()
                assert Path(files[0][2]) == Path(make_url(database.url).database or "")
                found = (
                    await conn.execute(
                        text("SELECT count(*) FROM sqlite_master WHERE name = 'users'")
                    )
                ).scalar()
            else:
                current = (await conn.execute(text("SELECT current_schema()"))).scalar()
                assert current == database.schema
                found = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = :schema AND table_name = 'users'"
                        ),
                        {"schema": database.schema},
                    )
                ).scalar()
        assert found == 1
    finally:
        await db.dispose()


async def test_a_read_is_two_trips_to_the_sqlite_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN travels with the statement, which is executed, fetched and closed together, then
    COMMIT, and the pool's reset finds nothing to roll back: aiosqlite's own cursor made nine
    trips, each a wake-up of the event loop (docs/benchmarks.md)."""
    db = Database(sqlite_url(tmp_path / "p.sqlite3"))
    try:
        await migrate.upgrade(db)
        trips: list[object] = []
        original = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any) -> Any:
            trips.append(fn)
            return await original(self, fn, *args)  # type: ignore[no-untyped-call]

        async with db.read() as conn:  # a pooled connection, opened before counting
            await conn.execute(select(1))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(users))).scalar() == 0
            assert len(trips) == 1
        assert len(trips) == 2
        async with db.write() as conn:
            pass  # nothing ran: nothing to begin or commit
        assert len(trips) == 2
    finally:
        await db.dispose()


async def test_rows_counts_and_ids_come_back_through_the_one_trip_cursor(db: Database) -> None:
    async with db.write() as conn:
        ids = [await add_user(conn, n) for n in range(3)]  # INSERT ... RETURNING
        many = await conn.execute(
            insert(devices).returning(devices.c.id, devices.c.user_id),
            [
                {
                    "user_id": user_id,
                    "token_hash": bytes([n]) * 32,
                    "model": "m",
                    "os": "o",
                    "app_version": "1",
                    "created_at": 0.0,
                    "last_active_at": 0.0,
                }
                for n, user_id in enumerate(ids)
            ],
        )
        assert sorted(row.user_id for row in many) == ids
        changed = await conn.execute(update(users).where(users.c.id != ids[0]).values(name="x"))
        assert changed.rowcount == 2
    async with db.read() as conn:
        names = (await conn.execute(select(users.c.name).order_by(users.c.id))).scalars().all()
        assert names == ["user 0", "x", "x"]
        assert (await conn.execute(select(users.c.id).where(users.c.id < 0))).first() is None


async def test_watchers_hear_of_committed_updates_and_deletes_of_their_tables(
    db: Database,
) -> None:
    heard: list[str] = []
    db.after_commit_of([("delete", "devices"), ("update", "users")], lambda: heard.append("!"))
    async with db.write() as conn:
        user_id = await add_user(conn, 1)  # an insert: nothing to forget
    async with db.write() as conn:
        await conn.execute(delete(devices).where(devices.c.user_id == user_id))
        assert heard == []  # not before the commit
    assert heard == ["!"]
    async with db.write() as conn:
        await conn.execute(update(users).values(name="changed"))
        await conn.execute(update(users).values(name="twice"))
    assert heard == ["!", "!"]  # once per transaction
    async with db.write() as conn:
        await conn.execute(update(rate_limits).values(tokens=1.0))  # not watched
    with pytest.raises(Boom):
        async with db.write() as conn:
            await conn.execute(update(users).values(name="rolled back"))
            raise Boom
    async with db.write() as conn:
        await add_user(conn, 2)  # the rolled-back notes are not carried into this one
    assert heard == ["!", "!"]


async def test_a_transaction_whose_first_statement_fails_is_rolled_back(db: Database) -> None:
    """BEGIN went with the failing statement: the transaction it opened must still be ended,
    or every later write would find one already open."""
    for _ in range(2):
        with pytest.raises(IntegrityError):
            async with db.write() as conn:
                await conn.execute(
                    insert(devices).values(
                        user_id=424242,  # no such user
                        token_hash=b"t" * 32,
                        model="m",
                        os="o",
                        app_version="1",
                        created_at=0.0,
                        last_active_at=0.0,
                    )
                )
    async with db.write() as conn:
        await add_user(conn, 1)
    assert await count(db, users) == 1


async def test_a_quick_write_is_two_trips_whatever_its_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write(quick=True): BEGIN with the first statement, COMMIT; the statements between run
    on the event loop's thread (the group commit of sends, docs/benchmarks.md)."""
    db = Database(sqlite_url(tmp_path / "p.sqlite3"))
    try:
        await migrate.upgrade(db)
        trips: list[object] = []
        original = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            trips.append(fn)
            return await original(self, fn, *args, **kw)  # type: ignore[no-untyped-call]

        async with db.write() as conn:  # the writer connection, opened before counting
            await add_user(conn, 0)
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.write(quick=True) as conn:
            for n in range(1, 6):
                await add_user(conn, n)
            await conn.execute(update(users).where(users.c.id > 3).values(name="q"))
            assert len(trips) == 1
        assert len(trips) == 2
        async with db.write() as conn:  # a plain write afterwards: a trip per statement again
            await add_user(conn, 6)
            await add_user(conn, 7)
        assert len(trips) == 5
        monkeypatch.undo()
        assert await count(db, users) == 8
    finally:
        await db.dispose()


async def test_a_quick_write_that_fails_midway_leaves_nothing_written(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write(quick=True) as conn:
            await add_user(conn, 1)
            await add_user(conn, 2)
            await conn.execute(
                insert(devices).values(
                    user_id=424242,  # no such user
                    token_hash=b"t" * 32,
                    model="m",
                    os="o",
                    app_version="1",
                    created_at=0.0,
                    last_active_at=0.0,
                )
            )
    assert await count(db, users) == 0
    async with db.write(quick=True) as conn:
        await add_user(conn, 3)
    assert await count(db, users) == 1


async def test_what_a_writer_user_left_uncommitted_is_not_carried_into_the_next_write(
    db: Database,
) -> None:
    """The one writer connection stays open between writes (``writer_connection``): a user
    that leaves a transaction open (a failed migration, say) must not hand it to the next
    write, which would then commit it."""
    async with db.writer_connection() as conn:
        await add_user(conn, 1)  # begun, never committed
    async with db.write(quick=True) as conn:
        await add_user(conn, 2)
    async with db.write() as conn:
        await add_user(conn, 3)
    async with db.read() as conn:
        names = (await conn.execute(select(users.c.name).order_by(users.c.name))).scalars()
        assert list(names) == ["user 2", "user 3"]


async def test_the_writer_connection_waits_for_the_write_under_way(db: Database) -> None:
    """SQLite has one writer: a checkpoint or a migration takes it after the write under
    way, as the next write does (PostgreSQL writes concurrently: its own tests above)."""
    if not db.is_sqlite:
        pytest.skip("SQLite's one writer connection")
    inside, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def long_write() -> None:
        async with db.write(quick=True) as conn:
            await add_user(conn, 1)
            inside.set()
            await release.wait()
            order.append("write done")

    async def checkpoint_like() -> None:
        async with db.writer_connection():
            order.append("writer taken")

    writing = asyncio.create_task(long_write())
    await inside.wait()
    taking = asyncio.create_task(checkpoint_like())
    try:
        await asyncio.sleep(0.05)
        assert order == []
    finally:
        release.set()
        await asyncio.gather(writing, taking)
    assert order == ["write done", "writer taken"]
    assert await count(db, users) == 1


async def test_a_refused_request_keeps_its_connection(db: Database) -> None:
    """A write or a quick read that fails midway (a chat not found, say) rolls back and
    leaves its connection as good as before: it stays kept (database.py), not handed back to
    the pool and taken out again, which is what keeping it saves; and the next write works."""
    if not db.is_sqlite:
        pytest.skip("SQLite's kept connections")
    async with db.write(quick=True) as conn:
        await add_user(conn, 1)
    async with db.read(quick=True) as conn:
        await conn.execute(select(users.c.id))
    taken: list[object] = []
    for engine in (db.writer, db.reader):
        event.listen(engine.sync_engine.pool, "checkout", lambda *_: taken.append(1))
    for n in range(5):
        for quick in (False, True):
            with pytest.raises(Boom):
                async with db.write(quick=quick) as conn:
                    await add_user(conn, 10 + 2 * n + quick)
                    raise Boom
        with pytest.raises(Boom):
            async with db.read(quick=True) as conn:
                await conn.execute(select(users.c.id))
                raise Boom
    async with db.write(quick=True) as conn:
        await add_user(conn, 2)
    assert taken == []
    assert await count(db, users) == 2


# A statement that keeps the database busy long enough to be cancelled in the middle.
SLOW = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
    " SELECT count(*) FROM c"
)


async def test_a_write_cancelled_mid_statement_ends_as_cancelled(db: Database) -> None:
    """Cancelling a task in the middle of a write's statement raises ``CancelledError`` out of
    the write, not another error: a background loop that catches ``Exception`` to survive a
    failed round would otherwise take the cancel for one and never stop
    (domain/background.py). Nothing of the write is kept, and the next write works. (Not a
    quick write: its statements run on the event loop's thread, where no cancel lands.)"""
    started = asyncio.Event()

    async def write() -> None:
        async with db.write() as conn:
            await add_user(conn, 1)
            started.set()
            await conn.execute(SLOW)

    task = asyncio.create_task(write())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=30)
    assert done, "the cancelled write did not end"
    assert task.cancelled(), f"the cancel became {task.exception()!r}"
    async with db.write(quick=True) as conn:
        await add_user(conn, 2)
    async with db.read() as conn:
        found = (await conn.execute(select(users.c.name))).scalars().all()
    assert found == ["user 2"]
