"""Migrations: from empty they build exactly ``storage/tables.py``, on SQLite and PostgreSQL.

If someone changes a table without writing the migration (or writes one that differs from the
table), alembic's own comparison finds the difference and this test lists it. Upgrading twice,
or from two processes at once, does nothing the second time; every revision can be applied
one at a time and undone; ``payam db upgrade`` does the same from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from payam.cli.main import app as cli
from payam.storage import migrate
from payam.storage.database import Database
from payam.storage.tables import is_declared_object, metadata, rate_limits
from tests.conftest import DatabaseTarget


@pytest.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    opened = Database(database.url, schema=database.schema)
    try:
        yield opened
    finally:
        await opened.dispose()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": lambda name, _type, _parents: is_declared_object(name),
        },
    )
    return list(compare_metadata(context, metadata))


async def differences(db: Database) -> list[Any]:
    async with db.writer_connection() as conn:
        return await conn.run_sync(_differences)


def _tables(connection: Connection) -> set[str]:
    return {t for t in inspect(connection).get_table_names() if is_declared_object(t)}


async def tables(db: Database) -> set[str]:
    async with db.writer_connection() as conn:
        return await conn.run_sync(_tables)


def revisions_in_order() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def test_the_migrations_have_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1, f"branched history: {script.get_heads()}"
    assert migrate.head() == revisions_in_order()[-1]


async def test_upgrade_from_empty_builds_exactly_the_declared_schema(db: Database) -> None:
    assert await tables(db) == set()
    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == migrate.head()
    assert await tables(db) == set(metadata.tables) | {"alembic_version"}
    diff = await differences(db)
    assert diff == [], (
        "storage/tables.py and the migrations disagree; write a migration "
        f"(alembic revision --autogenerate) for: {diff}"
    )


async def test_upgrade_twice_is_harmless_and_keeps_the_data(db: Database) -> None:
    await migrate.upgrade(db)
    async with db.write() as conn:
        await conn.execute(insert(rate_limits).values(key="k", tokens=1.0, updated_at=0.0))
    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == migrate.head()
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(rate_limits))).scalar() == 1


async def test_two_upgrades_at_once_in_one_process_both_succeed(
    database: DatabaseTarget,
) -> None:
    first = Database(database.url, schema=database.schema)
    second = Database(database.url, schema=database.schema)
    try:
        await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))
        assert await migrate.current_revision(first) == migrate.head()
        assert await differences(first) == []
    finally:
        await first.dispose()
        await second.dispose()


async def test_every_revision_applies_one_at_a_time_and_undoes(db: Database) -> None:
    for revision in revisions_in_order():
        await migrate.upgrade(db, revision)
        assert await migrate.current_revision(db) == revision
    assert await differences(db) == []
    await migrate.downgrade(db, "base")
    assert await tables(db) <= {"alembic_version"}
    await migrate.upgrade(db)
    assert await differences(db) == []


def _run_cli(args: list[str], env: dict[str, str | None]) -> Any:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


CLEAN_ENV: dict[str, str | None] = {
    "PAYAM_DATA_DIR": None,
    "PAYAM_DATABASE_URL": None,
    "PAYAM_DATABASE_SCHEMA": None,
}


async def test_cli_db_upgrade_creates_the_sqlite_database_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for _ in range(2):  # the second run finds nothing to do
        result = await asyncio.to_thread(
            _run_cli, ["db", "upgrade", "--data-dir", str(data_dir)], CLEAN_ENV
        )
        assert result.exit_code == 0, result.output
        assert f"revision {migrate.head()}" in result.output
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'payam.sqlite3'}")
    try:
        assert await migrate.current_revision(db) == migrate.head()
        assert await differences(db) == []
    finally:
        await db.dispose()


async def test_cli_db_upgrade_reads_the_database_from_the_environment(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    env = {
        **CLEAN_ENV,
        "PAYAM_DATA_DIR": str(tmp_path / "data"),
        "PAYAM_DATABASE_URL": database.url,
        "PAYAM_DATABASE_SCHEMA": database.schema,
    }
    result = await asyncio.to_thread(_run_cli, ["db", "upgrade"], env)
    assert result.exit_code == 0, result.output
    db = Database(database.url, schema=database.schema)
    try:
        assert await migrate.current_revision(db) == migrate.head()
    finally:
        await db.dispose()


async def test_servers_starting_together_migrate_once_without_errors(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    """Three ``payam db upgrade`` processes race on one empty database (SQLite file or
    PostgreSQL schema): all succeed, the schema is built once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYAM_")}
    env.update(PAYAM_DATA_DIR=str(tmp_path / "data"), PAYAM_DATABASE_URL=database.url)
    if database.schema:
        env["PAYAM_DATABASE_SCHEMA"] = database.schema
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "payam",
            "db",
            "upgrade",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    try:
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in processes)), timeout=120
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for process, (output, _) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output.decode()
    db = Database(database.url, schema=database.schema)
    try:
        assert await migrate.current_revision(db) == migrate.head()
        assert await differences(db) == []
    finally:
        await db.dispose()


async def test_0009_repairs_a_search_index_damaged_by_edits(database: DatabaseTarget) -> None:
    """A database edited under 0002's triggers had a broken index; the upgrade rebuilds it."""
    if database.backend != "sqlite":
        pytest.skip("the FTS5 index is SQLite's; PostgreSQL indexes the row itself")
    path = database.url.removeprefix("sqlite+aiosqlite:///")
    db = Database(database.url)
    try:
        await migrate.upgrade(db, "0007")
        await db.dispose()
        with contextlib.closing(sqlite3.connect(path)) as raw:
            raw.execute("PRAGMA foreign_keys = OFF")
            raw.execute(
                "INSERT INTO messages (id, chat_id, seq, sender_id, client_id, text, created_at)"
                " VALUES (1, 1, 1, 1, 'c1', 'alpha bravo gamma', 0)"
            )
            raw.execute("UPDATE messages SET text = 'alpha bravo delta' WHERE id = 1")
            raw.commit()
            assert _matches(raw, "alpha") == []  # the damage 0002 did
        await migrate.upgrade(db)
        await db.dispose()
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert _matches(raw, "alpha") == _matches(raw, "delta") == [1]
            assert _matches(raw, "gamma") == []
            raw.execute(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
            )
            raw.execute("UPDATE messages SET text = 'charlie' WHERE id = 1")
            assert _matches(raw, "charlie") == [1]
            assert _matches(raw, "alpha") == []
    finally:
        await db.dispose()


def _matches(raw: sqlite3.Connection, word: str) -> list[int]:
    query = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
    return [row[0] for row in raw.execute(query, (word,))]
