"""Photo files, shared by profile photos and group photos (P3.3, P5.3, P9.2).

An upload is re-encoded without metadata (P3.3) before anything is stored, stored as two
content-addressed files (full size and thumbnail), and recorded by the caller's own
transaction. Files are shared: two accounts or groups, or a photo and a media upload, that hold
the same bytes point at the same file. Who points at a file, and when it is erased, follows the
one rule in ``services/files.py`` (one lock, one "is it still named" question), which media
follow too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from payam.adapters.blobs import BlobStore
from payam.adapters.images import MIME, ProcessedImage
from payam.config import Settings
from payam.domain.limits import Limit
from payam.services.files import Files
from payam.services.limiter import RateLimiter
from payam.storage.database import Database

# The (full, thumbnail) keys a record pointed at before a change; (None, None) for none.
Keys = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    mime: str
    etag: str


class PhotoService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        blobs: BlobStore,
        limiter: RateLimiter,
        files: Files,
    ) -> None:
        self.db = db
        self.settings = settings
        self.blobs = blobs
        self.limiter = limiter
        self.files = files

    async def replace(
        self, uploader_id: int, data: bytes, record: Callable[[str, str], Awaitable[Keys]]
    ) -> None:
        """Re-encode ``data`` and store it; ``record(full_key, thumb_key)`` points a profile or
        a group at the new files in its own transaction and returns the keys it replaced,
        whose files then go unless something else still shows them (P5.3).

        All or nothing (P9.2): a refused image stores nothing, and when ``record`` raises (the
        account or group is gone, the caller lost the right) the new files are removed again.
        Every upload spends the uploader's ``photo_upload_per_user`` budget.
        """
        await self.limiter.spend(
            Limit.photo_upload_per_user, f"user:{uploader_id}", code="too_many_uploads"
        )

        async def point(_image: ProcessedImage, full_key: str, thumb_key: str) -> None:
            old = await record(full_key, thumb_key)
            await self.files.forget_locked(old, keep=(full_key, thumb_key))

        await self.files.store_image(
            data,
            max_bytes=self.settings.photo_max_bytes,
            max_pixels=self.settings.image_max_pixels,
            max_side=self.settings.photo_max_side,
            thumb_side=self.settings.thumbnail_side,
            record=point,
        )

    async def remove(self, record: Callable[[], Awaitable[Keys]]) -> None:
        """``record()`` points a profile or group at no photo and returns the keys it had; their
        files go unless something else still shows them (P5.2, P5.3)."""
        async with self.files.refs:
            old = await record()
            await self.files.forget_locked(old)

    async def forget(self, *keys: str | None) -> None:
        """Erase these files if nothing shows them any more (after a group was deleted)."""
        await self.files.forget(keys)

    async def read(self, key: str | None) -> Photo | None:
        """The file behind ``key`` as served to clients (the ETag is its content hash)."""
        data = await self.blobs.get(key) if key else None
        if key is None or data is None:
            return None
        return Photo(data=data, mime=MIME, etag=f'"{key.partition(".")[0]}"')
