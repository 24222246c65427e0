"""Backups and restores (``payam backup DEST``, ``payam restore SRC``; docs/operations.md).

A backup is a directory:

- ``payam.sqlite3`` or ``database.pgdump``: a consistent online copy of the database
  (``storage/backup.py``);
- ``blobs/``: the files (photos, media), copied after the database, so each file a row of the
  copy names is there;
- ``secret.key``: the server secret (unless it comes from ``PAYAM_SECRET_KEY``);
- ``erasure-log.jsonl``: the erasure log as it was;
- ``manifest.json``: ``{"format": "payam-backup/1", "created_at", "database", "revision",
  "files"}``, written last: a backup without it is incomplete.

Left out on purpose: the SMS outbox (numbers in clear, kept only hours) and partner exports.

What a backup means for deletion (P5.3, P11.3): it holds what users deleted after it was made,
until the backup itself is deleted. A restore replays the erasure log: every account erased
after the backup was made (by the current log, the backup's copy, and any copy given) is
erased again before the server starts. Backups older than the log's retention
(``erasure_log_retention_days``) are refused, since the log may no longer list every erasure
since then.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from payam.adapters.erasure_log import Erasure, ErasureLog
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput
from payam.storage import backup as store
from payam.storage import migrate
from payam.storage.database import Database

FORMAT = "payam-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "payam.sqlite3"
PG_DUMP = "database.pgdump"
LOG_FILE = "erasure-log.jsonl"
DAY = 86400


@dataclass(frozen=True, slots=True)
class Manifest:
    format: str
    created_at: float
    database: str
    revision: str | None
    files: int


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    # Accounts erased after the backup was made, to erase again now (oldest first).
    to_erase: list[int]


def _kind(db: Database) -> str:
    return "sqlite" if db.is_sqlite else "postgresql"


def _copy_blobs(source: Path, target: Path) -> int:
    if not source.exists():
        target.mkdir(mode=0o700)
        return 0
    # Files half written or half erased are no one's data yet, or any more.
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".partial", ".erasing"))
    return sum(1 for p in target.rglob("*") if p.is_file())


async def create(settings: Settings, db: Database, clock: Clock, dest: Path) -> Manifest:
    """Write a backup of the running server's data to the new directory ``dest``."""
    await asyncio.to_thread(_make_dir, dest)
    created_at = clock.now()
    revision = await migrate.current_revision(db)
    url = settings.resolved_database_url()
    if db.is_sqlite:
        await asyncio.to_thread(store.copy_sqlite, store.sqlite_path(url), dest / SQLITE_FILE)
    else:
        schema = settings.database_schema or "public"
        await asyncio.to_thread(store.dump_postgres, url, schema, dest / PG_DUMP)
    files = await asyncio.to_thread(_copy_blobs, settings.data_dir / "blobs", dest / "blobs")
    manifest = Manifest(FORMAT, created_at, _kind(db), revision, files)
    await asyncio.to_thread(_finish, settings, dest, manifest)
    return manifest


def _make_dir(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInput(f"{dest} exists and is not empty.", code="backup_exists")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)


def _finish(settings: Settings, dest: Path, manifest: Manifest) -> None:
    secret = settings.data_dir / "secret.key"
    if secret.exists():
        shutil.copy2(secret, dest / "secret.key")
    ErasureLog(dest / LOG_FILE).merge(ErasureLog(settings.resolved_erasure_log_path()).entries())
    (dest / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    for path in dest.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def read_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{source} is not a complete payam backup.", code="not_a_backup")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise InvalidInput(f"unknown backup format {data.get('format')!r}", code="not_a_backup")
    return Manifest(**data)


async def restore(
    settings: Settings,
    db: Database,
    clock: Clock,
    source: Path,
    *,
    other_logs: list[Path] | None = None,
) -> Restored:
    """Put the backup in ``source`` in place of the server's data (the server must be
    stopped), keep every erasure log entry known, and say which accounts to erase again."""
    manifest = await asyncio.to_thread(read_manifest, source)
    if manifest.database != _kind(db):
        raise InvalidInput(
            f"the backup is of a {manifest.database} database; this server uses {_kind(db)}.",
            code="backup_mismatch",
        )
    oldest = clock.now() - settings.erasure_log_retention_days * DAY
    if manifest.created_at < oldest:
        raise InvalidInput(
            f"the backup is older than the erasure log's retention "
            f"({settings.erasure_log_retention_days} days): accounts erased since may no "
            "longer be listed, so restoring it could bring them back.",
            code="backup_too_old",
        )
    log = ErasureLog(settings.resolved_erasure_log_path())
    known = await asyncio.to_thread(
        _all_entries, [log.path, source / LOG_FILE, *(other_logs or [])]
    )

    url = settings.resolved_database_url()
    await db.dispose()  # no connection of ours may hold the old database open
    if manifest.database == "sqlite":
        await asyncio.to_thread(store.put_sqlite, source / SQLITE_FILE, store.sqlite_path(url))
    else:
        schema = settings.database_schema or "public"
        await asyncio.to_thread(store.restore_postgres, url, schema, source / PG_DUMP)
    await asyncio.to_thread(_put_files, settings, source)
    await asyncio.to_thread(log.merge, sorted(known))
    later = sorted(e for e in known if e.erased_at >= manifest.created_at)
    return Restored(manifest, list(dict.fromkeys(e.user_id for e in later)))


def _all_entries(paths: list[Path]) -> set[Erasure]:
    known: set[Erasure] = set()
    for path in paths:
        known |= set(ErasureLog(path).entries())
    return known


def _put_files(settings: Settings, source: Path) -> None:
    blobs = settings.data_dir / "blobs"
    staging = settings.data_dir / "blobs.restoring"
    old = settings.data_dir / "blobs.replaced"
    shutil.rmtree(staging, ignore_errors=True)
    _copy_blobs(source / "blobs", staging)
    if blobs.exists():
        blobs.replace(old)
    staging.replace(blobs)
    # Files of the messages the restore went back over: no row names them any more.
    shutil.rmtree(old, ignore_errors=True)
    if (source / "secret.key").exists():
        shutil.copy2(source / "secret.key", settings.data_dir / "secret.key")
