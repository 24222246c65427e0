"""The one rule for stored files (P5.3), shared by profile photos, group photos and media.

Blobs are content-addressed (``adapters/blobs.py``): an account's photo, a group's photo and
any number of media uploads may all name the same file. A file is erased when the last record
naming it is gone, and only then. Two things make that hold:

- **One lock** (``refs``). Every change that makes a record name a file (store the blob, then
  commit the row) and every erasure (check that nothing names it, then erase it) runs under it.
  So an upload of the same bytes never points at a file while its erasure is half done, and an
  erasure never removes a file that an upload just pointed at. (One server process: several
  processes sharing a data directory would need this lock in the database.)
- **One question** (``_in_use``): does any account, group or media row name this key? Records
  are deleted first, in their own transaction; their keys are handed to ``forget`` after the
  commit, which erases the ones nothing names any more.

It also owns the one image decoder slot (``decode``): Pillow work is not thread-safe here and
a large decode takes over 100 MB, so photos and media decode one image at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.blobs import BlobStore
from payam.adapters.images import ProcessedImage, process_image
from payam.storage import chats, media, users
from payam.storage.database import Database

# A file still being written this long after it was begun was abandoned by a crash.
LEFTOVER_AGE = 3600

T = TypeVar("T")


class Files:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        self.refs = asyncio.Lock()
        self.decode = asyncio.Lock()

    async def store_image(
        self,
        data: bytes,
        *,
        max_bytes: int,
        max_pixels: int,
        max_side: int,
        thumb_side: int,
        record: Callable[[ProcessedImage, str, str], Awaitable[T]],
    ) -> T:
        """Re-encode ``data`` (P3.3; one image at a time), store the image and its thumbnail,
        and let ``record(image, full_key, thumb_key)`` point a row at them under ``refs``. All
        or nothing (P9.2): a refused image stores nothing, and when ``record`` raises, the new
        files go again unless something else names them."""
        async with self.decode:
            image = await asyncio.to_thread(
                process_image,
                data,
                max_bytes=max_bytes,
                max_pixels=max_pixels,
                max_side=max_side,
                thumb_side=thumb_side,
            )
        async with self.refs:
            full_key = await self.blobs.put(image.full, image.suffix)
            thumb_key = await self.blobs.put(image.thumbnail, image.suffix)
            try:
                return await record(image, full_key, thumb_key)
            except BaseException:
                await self.forget_locked((full_key, thumb_key))
                raise

    async def forget(self, keys: Iterable[str | None]) -> int:
        """Erase each of these files that no record names any more; how many went."""
        wanted = [key for key in dict.fromkeys(keys) if key]
        if not wanted:
            return 0
        async with self.refs:
            return await self.forget_locked(wanted)

    async def forget_locked(self, keys: Iterable[str | None], *, keep: Iterable[str] = ()) -> int:
        """``forget`` for a caller that holds ``refs`` already; ``keep`` are never erased (the
        files the caller has just pointed a record at)."""
        kept = set(keep)
        erased = 0
        for key in dict.fromkeys(keys):
            if key is None or key in kept:
                continue
            async with self.db.read() as conn:
                in_use = await self._in_use(conn, key)
            if not in_use:
                await self.blobs.delete(key)
                erased += 1
        return erased

    async def drop_leftovers(self, now: float) -> int:
        """Erase what a crash left in the store (P5.3): files half written more than an hour
        ago, and files that were being erased; how many went. Run by the retention job."""
        return await self.blobs.drop_leftovers(now - LEFTOVER_AGE)

    @staticmethod
    async def _in_use(conn: AsyncConnection, key: str) -> bool:
        return (
            await users.photo_key_in_use(conn, key)
            or await chats.photo_key_in_use(conn, key)
            or await media.key_in_use(conn, key)
        )
