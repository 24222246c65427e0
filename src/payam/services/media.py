"""Media: files for messages and channel posts (P3.3, P5.1, P5.3, P9.1, P9.2).

What an upload goes through, in this order:

1. **The caller's budget** (``media_upload_per_user``), spent before the body is read.
2. **Its size**, held while the body arrives (``api/uploads.py``): past ``media_max_bytes`` the
   upload is cut off with 413; an empty one is 422.
3. **Its type, from its bytes** (``adapters/sniff.py``). A declared part type that names another
   kind than the content is 415 ``media_type_mismatch``. Content nothing recognises is kept as
   an ``application/octet-stream`` file and always served as a download.
4. **Images are re-encoded** like photos (``adapters/images.py``: JPEG, PNG and WebP in, WebP
   out, at most ``media_image_max_side``, every metadata block dropped, a thumbnail made; bombs,
   truncated files and other image types refused). Video, audio and other files are stored as
   they came; an MP4 or QuickTime video's display size is read from its track header.
5. **Stored** content-addressed, and recorded as the caller's upload. Until a message carries it
   it is only the uploader's, and it is deleted after ``media_unattached_hours``.

Who may fetch it: the uploader; a user who sees a message that is not deleted and carries it
(member of its chat, after their cleared seq, not hidden for them); anyone signed in when a
channel post carries it. Everyone else is told it does not exist (404 ``media_not_found``).

Deletion (P5.3): the stores release media rows in the transaction that deletes their last
message; the services that run those transactions hand the returned blob keys to
``Files.forget`` after the commit, which erases every file that no media row, account photo or
group photo names any more (``services/files.py``).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any, BinaryIO

from payam.adapters.blobs import BlobFile, BlobStore
from payam.adapters.images import MIME as IMAGE_MIME
from payam.adapters.images import ProcessedImage
from payam.adapters.sniff import HEAD_BYTES, Sniffed, contradicts, settle, sniff
from payam.adapters.video import video_size
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMedia
from payam.domain.file_names import clean_file_name, with_suffix
from payam.domain.limits import Limit
from payam.domain.models import Caller
from payam.services.files import Files
from payam.services.limiter import RateLimiter
from payam.services.render import media_json
from payam.storage import media as store
from payam.storage import ttl as ttl_store
from payam.storage.database import Database
from payam.storage.media import MediaRow

MAX_ID = 2**63 - 1
HOUR = 3600
# Types a browser may show in place; everything else is served as a download.
INLINE_KINDS = {"image", "video", "audio"}


@dataclass(frozen=True, slots=True)
class ServedMedia:
    """A file the caller may fetch, with what the HTTP door needs to send it."""

    blob: BlobFile
    mime: str
    etag: str
    inline: bool
    filename: str  # the name sent with the upload (cleaned), else "<id>.<suffix>"
    uploaded_at: float


def _served_name(row: MediaRow, media_id: int, suffix: str, *, thumbnail: bool) -> str:
    """The name a download is saved under: the one it was sent with, with the suffix of
    what is served (a re-encoded image is WebP whatever it was sent as); else its id."""
    tail = "-thumb" if thumbnail else ""
    if row.name is None:
        return f"{media_id}{tail}.{suffix}"
    if not (thumbnail or row.kind == "image"):
        return row.name
    stem = with_suffix(row.name, suffix).removesuffix(f".{suffix}")
    return f"{stem}{tail}.{suffix}"


def not_found() -> NotFound:
    return NotFound("No such media.", code="media_not_found")


class MediaService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        blobs: BlobStore,
        limiter: RateLimiter,
        files: Files,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.blobs = blobs
        self.limiter = limiter
        self.files = files

    async def spend_upload_budget(self, caller: Caller) -> None:
        """Step 1, before the body is read: a client over its budget sends no megabytes."""
        await self.limiter.spend(
            Limit.media_upload_per_user, f"user:{caller.user_id}", code="too_many_uploads"
        )

    def too_large(self) -> PayloadTooLarge:
        limit = self.settings.media_max_bytes
        return PayloadTooLarge(f"A file is at most {limit} bytes.", code="payload_too_large")

    async def upload(
        self,
        caller: Caller,
        source: BinaryIO,
        declared_type: str | None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """Steps 2 to 5 for a received file (``source`` at its start); the stored upload. The
        name it was sent under is kept, cleaned (``domain/file_names.py``), for downloads."""
        name = clean_file_name(file_name)
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        if size == 0:
            raise InvalidInput("The upload is empty.", code="empty_upload")
        if size > self.settings.media_max_bytes:
            raise self.too_large()
        head = source.read(HEAD_BYTES)
        source.seek(0)
        found = sniff(head)
        if contradicts(declared_type, found):
            raise UnsupportedMedia(
                f"The file was sent as {declared_type} but its content is "
                f"{found.mime if found.known else 'not a type we recognise'}.",
                code="media_type_mismatch",
            )
        found = settle(declared_type, found)
        if found.kind == "image":
            row = await self._store_image(caller, await asyncio.to_thread(source.read), name)
        else:
            row = await self._store_file(caller, source, found, name)
        return media_json(row)

    async def _store_image(self, caller: Caller, data: bytes, name: str | None) -> MediaRow:
        async def point(image: ProcessedImage, full_key: str, thumb_key: str) -> MediaRow:
            return await self._record(
                caller,
                kind="image",
                mime=image.mime,
                size=len(image.full),
                width=image.width,
                height=image.height,
                blob_key=full_key,
                thumb_key=thumb_key,
                name=name,
            )

        return await self.files.store_image(
            data,
            max_bytes=self.settings.media_max_bytes,
            max_pixels=self.settings.image_max_pixels,
            max_side=self.settings.media_image_max_side,
            thumb_side=self.settings.thumbnail_side,
            record=point,
        )

    async def _store_file(
        self, caller: Caller, source: BinaryIO, found: Sniffed, name: str | None
    ) -> MediaRow:
        size = await asyncio.to_thread(video_size, source) if found.kind == "video" else None
        # The copy (the slow part) happens before the lock; naming it is a rename under it.
        staged = await self.blobs.stage(source)
        async with self.files.refs:
            try:
                key = await self.blobs.keep(staged, found.suffix)
            except BaseException:
                await self.blobs.discard(staged)
                raise
            try:
                return await self._record(
                    caller,
                    kind=found.kind,
                    mime=found.mime,
                    size=staged.size,
                    width=size[0] if size else None,
                    height=size[1] if size else None,
                    blob_key=key,
                    thumb_key=None,
                    name=name,
                )
            except BaseException:
                await self.files.forget_locked((key,))
                raise

    async def _record(self, caller: Caller, **values: Any) -> MediaRow:
        async with self.db.write() as conn:
            return await store.insert_one(
                conn, owner_id=caller.user_id, created_at=self.clock.now(), **values
            )

    # -- reading -------------------------------------------------------------------------------

    async def open(self, caller: Caller, media_id: int, *, thumbnail: bool) -> ServedMedia:
        """The file (or its thumbnail) if the caller may see it (P9.1); else 404, the same
        answer as for an id that never existed."""
        if not 0 < media_id <= MAX_ID:
            raise not_found()
        async with self.db.read() as conn:
            row = await store.get(conn, media_id)
            now = self.clock.now()
            if row is None:
                raise not_found()
            if row.owner_id == caller.user_id:
                # One's own upload, unless every message carrying it disappeared (P5.3).
                if await ttl_store.carried_only_by_expired(conn, media_id, now):
                    raise not_found()
            elif not await store.can_see(conn, media_id, caller.user_id, now=now):
                raise not_found()
        key = row.thumb_key if thumbnail else row.blob_key
        if key is None:
            raise NotFound("This file has no thumbnail.", code="media_not_found")
        blob = await self.blobs.open(key)
        if blob is None:  # erased a moment ago by a deletion that committed meanwhile
            raise not_found()
        mime = IMAGE_MIME if thumbnail else row.mime
        suffix = key.partition(".")[2]
        return ServedMedia(
            blob=blob,
            mime=mime,
            etag=f'"{key.partition(".")[0]}"',
            inline=row.kind in INLINE_KINDS,
            filename=_served_name(row, media_id, suffix, thumbnail=thumbnail),
            uploaded_at=row.created_at,
        )

    # -- deleting ------------------------------------------------------------------------------

    async def expire_unattached(self) -> int:
        """Delete uploads no message carried within ``media_unattached_hours``, and their files
        (retention, run by ``Maintenance.prune``); how many uploads went."""
        cutoff = self.clock.now() - self.settings.media_unattached_hours * HOUR
        async with self.db.write() as conn:
            count, keys = await store.expire_unattached(conn, cutoff)
        await self.files.forget(keys)
        return count
