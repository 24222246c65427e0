"""Plain records passed between stores, services and doors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    phone: str
    name: str
    status: str | None
    photo_key: str | None
    photo_thumb_key: str | None
    created_at: float
    updated_at: float
    # P5.3: the disappearing-messages timer given to the chats this user creates.
    default_message_ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    user_id: int
    model: str
    os: str
    app_version: str
    created_at: float
    last_active_at: float
    last_ip: str | None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request: the signed-in user and the device (session) they use."""

    user_id: int
    device_id: int
