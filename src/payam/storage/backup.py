"""Consistent online copies of the database, and putting one back (``payam backup`` and
``payam restore``; docs/operations.md "Backups").

SQLite: the backup API of the ``sqlite3`` module copies every page under one read
transaction while the server keeps writing (WAL), so the copy is one moment of the database.
PostgreSQL: ``pg_dump`` (custom format, one schema) does the same with a repeatable-read
snapshot; ``pg_restore`` puts it back into an emptied schema.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise ValueError(f"not a SQLite file URL: {url}")
    return Path(database)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database in one file (no WAL beside it)."""
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def put_sqlite(copy: Path, target: Path) -> None:
    """Replace the database file with ``copy`` (the server must be stopped): the old WAL and
    shared-memory files go first, or SQLite would replay the old WAL over the restored file."""
    staging = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, staging)
    staging.chmod(0o600)
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    staging.replace(target)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def dump_postgres(url: str, schema: str, target: Path) -> None:
    """``pg_dump`` of one schema in the custom format (raises with pg_dump's message)."""
    _run(
        [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--schema={schema}",
            f"--file={target}",
            f"--dbname={_libpq(url)}",
        ]
    )


def restore_postgres(url: str, schema: str, dump: Path) -> None:
    """Empty the schema and load the dump into it, in one transaction."""
    _run(["psql", "--quiet", "-v", "ON_ERROR_STOP=1", f"--dbname={_libpq(url)}", "-c",
          f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'])  # fmt: skip
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq(url)}",
            str(dump),
        ]
    )


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise RuntimeError(
            f"{command[0]} is not installed (the PostgreSQL client tools, as new as the server)"
        )
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        # The URL (and any password in it) stays out of the message.
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()}")
