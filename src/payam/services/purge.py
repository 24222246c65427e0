"""Making deletions physical (P5.3).

Deleting a row does not remove its bytes everywhere at once: SQLite keeps older page versions
in the WAL file until a checkpoint, and the FTS5 index keeps a deleted message's terms in its
segments until they are merged. With ``secure_delete`` on, freed space is zeroed; the purge
then merges the index (``optimize``) and checkpoints the WAL with TRUNCATE, after which the
deleted text is in no database file. Requests are coalesced: one purge runs ``delay`` seconds
after the first deletion that asked for it; ``run()`` purges at once (``payam maintenance
purge``). On PostgreSQL, see docs/privacy.md for what VACUUM does and does not remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from payam.domain.background import raise_if_cancelling
from payam.storage import messages as message_store
from payam.storage.database import Database

log = logging.getLogger(__name__)


# A TRUNCATE checkpoint waits (SQLite's busy handler) for readers of older snapshots while it
# holds the one writer connection, so every send waits with it. Each attempt may wait this
# long at most; between attempts the writer is free, and after the last one the purge is
# rescheduled.
CHECKPOINT_BUSY_MS = 200
CHECKPOINT_ATTEMPTS = 20


async def _checkpoint(driver: Any) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` with a short busy wait; whether it stayed busy."""
    cursor = await driver.execute("PRAGMA busy_timeout")
    (usual,) = await cursor.fetchone()
    await cursor.close()
    await driver.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
    try:
        cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _log_frames, _done = await cursor.fetchone()
        await cursor.close()
    finally:
        await driver.execute(f"PRAGMA busy_timeout={int(usual)}")
    return bool(busy)


class Purger:
    def __init__(
        self,
        db: Database,
        *,
        delay: float = 1.0,
        max_delay: float = 60.0,
        checkpoint_attempts: int = CHECKPOINT_ATTEMPTS,
    ) -> None:
        self.db = db
        self.checkpoint_attempts = checkpoint_attempts
        self.delay = delay
        self.max_delay = max(delay, max_delay)
        self._scheduled: asyncio.Task[None] | None = None
        # Set by every request, cleared when a purge starts: a deletion that commits while a
        # purge runs (perhaps after its checkpoint) gets a purge of its own.
        self._wanted = False
        self.runs = 0

    async def request(self) -> None:
        """Ask for a purge soon; returns at once."""
        self._wanted = True
        if self._scheduled is None or self._scheduled.done():
            self._scheduled = asyncio.create_task(self._loop(), name="purge")

    async def _loop(self) -> None:
        """Purge until nothing is wanted; a purge that could not finish is tried again later
        (with a growing wait), never left for a next deletion that may not come."""
        wait = self.delay
        while self._wanted:
            await asyncio.sleep(wait)
            self._wanted = False
            try:
                done = await self.run()
            except Exception:
                raise_if_cancelling()
                log.exception("purge failed; it will be tried again")
                done = False
            if done:
                wait = self.delay
            else:
                self._wanted = True
                wait = min(wait * 2, self.max_delay)

    async def run(self) -> bool:
        """Purge now. Returns whether the WAL was fully checkpointed and truncated."""
        if not self.db.is_sqlite:
            return True
        async with self.db.write() as conn:
            await message_store.optimize_index(conn)
        for _ in range(self.checkpoint_attempts):
            async with self.db.writer_connection() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                busy = await _checkpoint(driver)
            if not busy:
                self.runs += 1
                return True
            # A reader holds an old snapshot: give the writer connection back to the sends
            # while it finishes.
            await asyncio.sleep(0.05)
        log.warning("WAL checkpoint stayed busy; the purge will be tried again")
        return False

    async def stop(self) -> None:
        if self._scheduled is not None and not self._scheduled.done():
            self._scheduled.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduled
        self._scheduled = None
