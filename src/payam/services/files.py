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

It also owns image decoding for photos and media (P9.2, issue 9 #13). Decoding runs in
threads, off the event loop, in two bounded lanes of ``image_decode_workers`` slots each: one
for images that decode to at most ``SMALL_IMAGE_PIXELS``, one for larger ones, so a thumbnail-
sized upload never queues behind large photos. The header is read first (no pixel decoded):
what is over ``image_max_pixels`` declared, or ``image_max_decode_pixels`` decoded, is refused
before it takes a slot. So at most ``image_decode_workers`` large decodes, each bounded by
``image_max_decode_pixels``, hold memory at once, and it is handed back after each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.blobs import BlobStore
from payam.adapters.images import ProcessedImage, process_image, read_header, release_memory
from payam.storage import chats, media, users
from payam.storage.database import Database

# A file still being written this long after it was begun was abandoned by a crash.
LEFTOVER_AGE = 3600
# Images that decode to at most this many pixels (1000 x 1000) take the small lane.
SMALL_IMAGE_PIXELS = 1_000_000

T = TypeVar("T")


class Files:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        decode_workers: int = 2,
        max_decode_pixels: int = 16_777_216,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.refs = asyncio.Lock()
        self.max_decode_pixels = max_decode_pixels
        self.small_lane = asyncio.Semaphore(decode_workers)
        self.large_lane = asyncio.Semaphore(decode_workers)

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
        """Re-encode ``data`` (P3.3; in a decoding lane), store the image and its thumbnail,
        and let ``record(image, full_key, thumb_key)`` point a row at them under ``refs``. All
        or nothing (P9.2): a refused image stores nothing, and when ``record`` raises, the new
        files go again unless something else names them."""
        header = await asyncio.to_thread(
            read_header,
            data,
            max_bytes=max_bytes,
            max_pixels=max_pixels,
            max_decode_pixels=self.max_decode_pixels,
            max_side=max_side,
        )
        small = header.decode_pixels <= SMALL_IMAGE_PIXELS
        async with self.small_lane if small else self.large_lane:
            image = await asyncio.to_thread(
                _decode,
                data,
                max_bytes=max_bytes,
                max_pixels=max_pixels,
                max_side=max_side,
                thumb_side=thumb_side,
                max_decode_pixels=self.max_decode_pixels,
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


def _decode(data: bytes, **limits: int) -> ProcessedImage:
    """``process_image`` in a worker thread, its freed buffers handed back to the system."""
    try:
        return process_image(data, **limits)
    finally:
        release_memory()
