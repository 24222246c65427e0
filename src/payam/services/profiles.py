"""Profiles (P3): name, status and photo, and who may see them (P3.2 via ``domain.visibility``).

Every path that returns another user's profile goes through ``ProfileService.relation`` and
``domain.visibility.profile_view``; nothing else decides what a viewer sees.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.blobs import BlobStore
from payam.adapters.images import process_image
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput, NotFound
from payam.domain.limits import Limit
from payam.domain.models import Caller, User
from payam.domain.visibility import Relation, profile_view, sees_profile
from payam.services.limiter import RateLimiter
from payam.storage import contacts, users
from payam.storage.database import Database


def _clean(text: str) -> str:
    # NFC so that equal-looking names are equal; control characters never belong in a name.
    text = unicodedata.normalize("NFC", text).strip()
    return "".join(
        ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf"} or ch == "\u200c"
    )


def check_name(name: str, max_length: int) -> str:
    cleaned = _clean(name) if isinstance(name, str) else ""
    if not cleaned:
        raise InvalidInput("A name cannot be empty.", code="invalid_name")
    if len(cleaned) > max_length:
        raise InvalidInput(f"A name has at most {max_length} characters.", code="name_too_long")
    return cleaned


def check_status(status: str | None, max_length: int) -> str | None:
    if status is None:
        return None
    cleaned = _clean(status)
    if len(cleaned) > max_length:
        raise InvalidInput(f"A status has at most {max_length} characters.", code="status_too_long")
    return cleaned or None


@dataclass(frozen=True, slots=True)
class Photo:
    key: str
    mime: str


class ProfileService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        blobs: BlobStore,
        limiter: RateLimiter,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.blobs = blobs
        self.limiter = limiter

    async def me(self, caller: Caller) -> User:
        async with self.db.read() as conn:
            user = await users.get(conn, caller.user_id)
        if user is None:
            raise NotFound("The account no longer exists.", code="user_not_found")
        return user

    async def update(
        self, caller: Caller, *, name: str | None, status: str | None, set_status: bool
    ) -> User:
        """Correct the profile (P11.2). ``set_status`` distinguishes "clear it" from "keep it"."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = check_name(name, self.settings.name_max_length)
        if set_status:
            values["status"] = check_status(status, self.settings.status_max_length)
        if values:
            async with self.db.write() as conn:
                await users.update_profile(conn, caller.user_id, self.clock.now(), **values)
        return await self.me(caller)

    @staticmethod
    async def relation(conn: AsyncConnection, viewer_id: int, user_id: int) -> Relation:
        """How ``viewer_id`` is tied to ``user_id`` (the input of the P3.2 rule)."""
        if viewer_id == user_id:
            return Relation(is_self=True)
        phone_hash = await users.phone_hash_of(conn, user_id)
        holds = phone_hash is not None and await contacts.holds(
            conn, holder_id=viewer_id, phone_hash=phone_hash
        )
        # Shared chats join this relation with the messaging issue (#3); until then none exist.
        return Relation(holds_number=holds, shares_chat=False)

    async def view_user(self, caller: Caller, user_id: int) -> dict[str, Any]:
        async with self.db.read() as conn:
            user = await users.get(conn, user_id)
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            relation = await self.relation(conn, caller.user_id, user_id)
        return profile_view(user, relation)

    async def set_photo(self, caller: Caller, data: bytes) -> User:
        """Re-encode, strip metadata and store a new photo (P3.3); the old files go (P5.3)."""
        await self.limiter.spend(
            Limit.photo_upload_per_user, f"user:{caller.user_id}", code="too_many_uploads"
        )
        image = await asyncio.to_thread(
            process_image,
            data,
            max_bytes=self.settings.photo_max_bytes,
            max_pixels=self.settings.image_max_pixels,
            max_side=self.settings.photo_max_side,
            thumb_side=self.settings.thumbnail_side,
        )
        full_key = await self.blobs.put(image.full, image.suffix)
        thumb_key = await self.blobs.put(image.thumbnail, image.suffix)
        old = await self.me(caller)
        async with self.db.write() as conn:
            await users.update_profile(
                conn,
                caller.user_id,
                self.clock.now(),
                photo_key=full_key,
                photo_thumb_key=thumb_key,
            )
        await self._forget_files(old.photo_key, old.photo_thumb_key, keep={full_key, thumb_key})
        return await self.me(caller)

    async def delete_photo(self, caller: Caller) -> User:
        old = await self.me(caller)
        async with self.db.write() as conn:
            await users.update_profile(
                conn, caller.user_id, self.clock.now(), photo_key=None, photo_thumb_key=None
            )
        await self._forget_files(old.photo_key, old.photo_thumb_key)
        return await self.me(caller)

    async def _forget_files(self, *keys: str | None, keep: set[str] | None = None) -> None:
        for key in keys:
            if key is None or (keep and key in keep):
                continue
            async with self.db.read() as conn:
                in_use = await users.photo_key_in_use(conn, key)
            if not in_use:
                await self.blobs.delete(key)

    async def user_photo(self, caller: Caller, user_id: int, *, thumbnail: bool) -> Photo:
        """A photo only for viewers the P3.2 rule lets see the profile; else NotFound."""
        async with self.db.read() as conn:
            user = await users.get(conn, user_id)
            relation = await self.relation(conn, caller.user_id, user_id) if user else None
        if user is None or relation is None or not sees_profile(relation):
            raise NotFound("No such photo.", code="photo_not_found")
        key = user.photo_thumb_key if thumbnail else user.photo_key
        if key is None:
            raise NotFound("No such photo.", code="photo_not_found")
        return Photo(key=key, mime="image/webp")
