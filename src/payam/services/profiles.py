"""Profiles (P3): name, status and photo, and who may see them (P3.2 via ``domain.visibility``).

``domain.visibility.profile_view`` alone decides what a viewer sees of a profile, from the
``Relation`` that ``ProfileService.relation`` computes. (Contact discovery builds that relation
itself: it answers only about numbers the caller has just uploaded, so it holds them.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput, NotFound
from payam.domain.models import Caller, User
from payam.domain.visibility import Relation, profile_view, sees_photo
from payam.services.photos import Keys, Photo, PhotoService
from payam.storage import blocks, chats, contacts, invitations, users
from payam.storage.database import Database

# Kept although they are format characters: ZWNJ is part of Persian spelling, ZWJ joins emoji
# sequences. Every other control, format (bidi overrides, invisible marks) or surrogate goes.
_KEEP = {"\u200c", "\u200d"}
_DROP_CATEGORIES = {"Cc", "Cf", "Cs"}
# Who may add a user to groups (P3.2): anyone, or only people whose number the user holds.
GROUP_ADDS = ("everyone", "contacts")


def _clean(text: str) -> str:
    """NFC (equal-looking names are equal), line breaks and tabs as spaces, no controls, no
    invisible formatting, no leading or trailing space."""
    kept: list[str] = []
    for ch in text:
        if ch.isspace():
            kept.append(" ")
        elif ch in _KEEP or unicodedata.category(ch) not in _DROP_CATEGORIES:
            kept.append(ch)
    # Normalised after the removals, which can leave a letter and its accent side by side.
    return unicodedata.normalize("NFC", "".join(kept)).strip()


def _visible(text: str) -> bool:
    # Letters, digits, punctuation or symbols: a name of only joiners or marks shows nothing.
    return any(unicodedata.category(ch)[0] in "LNPS" for ch in text)


def check_name(name: str, max_length: int) -> str:
    """A name as stored (P1.3, P3.1): cleaned, not empty, at most ``max_length`` characters."""
    cleaned = _clean(name)
    if not _visible(cleaned):
        raise InvalidInput("A name cannot be empty.", code="invalid_name")
    if len(cleaned) > max_length:
        raise InvalidInput(f"A name has at most {max_length} characters.", code="name_too_long")
    return cleaned


def check_status(status: str | None, max_length: int) -> str | None:
    """A status as stored (P3.1): cleaned, at most ``max_length`` characters; empty is none."""
    if status is None:
        return None
    cleaned = _clean(status)
    if len(cleaned) > max_length:
        raise InvalidInput(f"A status has at most {max_length} characters.", code="status_too_long")
    return cleaned if _visible(cleaned) else None


class ProfileService:
    """Profiles (P3.1), their visibility (P3.2, P1.5) and photos (P3.3, P5.3, P9.2).

    Photo files are handled by ``PhotoService``, which group photos share: files are
    content-addressed and shared between accounts and groups that uploaded the same bytes.
    """

    def __init__(
        self, db: Database, settings: Settings, clock: Clock, photos: PhotoService
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.photos = photos

    async def me(self, caller: Caller) -> User:
        async with self.db.read(quick=True) as conn:
            user = await users.get(conn, caller.user_id)
        if user is None:
            raise NotFound("The account no longer exists.", code="user_not_found")
        return user

    async def me_with_group_adds(self, caller: Caller) -> tuple[User, str]:
        """``me`` and who may add the caller to groups (P3.2: their choice, else the server's
        default) in one read: what ``GET /v1/me`` answers."""
        async with self.db.read(quick=True) as conn:
            user = await users.get(conn, caller.user_id)
            chosen = await users.group_adds_of(conn, caller.user_id)
        if user is None:
            raise NotFound("The account no longer exists.", code="user_not_found")
        return user, chosen or self.settings.group_adds_default

    async def update(self, caller: Caller, changes: Mapping[str, str | None]) -> User:
        """Correct the profile (P11.2). ``changes`` holds only the fields the client sent:
        a name cannot be removed, ``"status": None`` clears the status; ``group_adds`` is
        "everyone" or "contacts" (P3.2)."""
        values: dict[str, Any] = {}
        if "group_adds" in changes:
            if changes["group_adds"] not in GROUP_ADDS:
                raise InvalidInput(
                    'group_adds is "everyone" or "contacts".', code="invalid_group_adds"
                )
            values["group_adds"] = changes["group_adds"]
        if "name" in changes:
            name = changes["name"]
            if name is None:
                raise InvalidInput("A name cannot be removed.", code="invalid_name")
            values["name"] = check_name(name, self.settings.name_max_length)
        if "status" in changes:
            values["status"] = check_status(changes["status"], self.settings.status_max_length)
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
        blocked = await blocks.is_blocked(conn, blocker=user_id, blocked=viewer_id)
        if holds:  # the rest cannot add to what the viewer sees
            return Relation(holds_number=True, blocked_by_owner=blocked)
        return Relation(
            shown_in_chat=await chats.shows_profile_to(conn, owner=user_id, viewer=viewer_id),
            known_in_direct=await chats.shares_direct(conn, viewer_id, user_id)
            and await contacts.holds_user(conn, holder_id=user_id, user_id=viewer_id),
            invited_viewer=await invitations.invited(conn, inviter=user_id, invitee=viewer_id),
            blocked_by_owner=blocked,
        )

    async def view_user(self, caller: Caller, user_id: int) -> dict[str, Any]:
        async with self.db.read() as conn:
            user = await users.get(conn, user_id)
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            relation = await self.relation(conn, caller.user_id, user_id)
        return profile_view(user, relation)

    async def set_photo(self, caller: Caller, data: bytes) -> User:
        """Re-encode, strip metadata and store a new photo (P3.3); the old files go (P5.3).
        A refused image changes nothing (P9.2)."""

        async def record(full_key: str, thumb_key: str) -> Keys:
            async with self.db.write() as conn:
                old = await users.swap_photo(
                    conn,
                    caller.user_id,
                    self.clock.now(),
                    photo_key=full_key,
                    photo_thumb_key=thumb_key,
                )
            if old is None:
                raise NotFound("The account no longer exists.", code="user_not_found")
            return old

        await self.photos.replace(caller.user_id, data, record)
        return await self.me(caller)

    async def delete_photo(self, caller: Caller) -> User:
        """Remove the photo; files no other account or group shows are erased (P5.2, P5.3)."""

        async def record() -> Keys:
            async with self.db.write() as conn:
                old = await users.swap_photo(
                    conn, caller.user_id, self.clock.now(), photo_key=None, photo_thumb_key=None
                )
            return old or (None, None)

        await self.photos.remove(record)
        return await self.me(caller)

    async def user_photo(self, caller: Caller, user_id: int, *, thumbnail: bool) -> Photo:
        """A photo only for viewers the P3.2 rule lets see the profile; else NotFound, the same
        answer as for a user without a photo or without an account, so nothing leaks."""
        async with self.db.read() as conn:
            user = await users.get(conn, user_id)
            relation = await self.relation(conn, caller.user_id, user_id) if user else None
        if user is None or relation is None or not sees_photo(relation):
            raise NotFound("No such photo.", code="photo_not_found")
        photo = await self.photos.read(user.photo_thumb_key if thumbnail else user.photo_key)
        if photo is None:
            raise NotFound("No such photo.", code="photo_not_found")
        return photo
