"""Request and response bodies of the HTTP API (never the storage rows themselves)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from payam.api.openapi import setting_limit
from payam.domain import limits
from payam.domain.events import iso
from payam.domain.limits import MESSAGE_TTL_MAX_SECONDS, MESSAGE_TTL_MIN_SECONDS
from payam.domain.models import Device, User

# Checked by the services after cleaning, with their own codes (name_too_long,
# status_too_long, too_many_contacts); the document states the configured limits.
NAME = setting_limit("name_max_length", limits.NAME_MAX_LENGTH)
STATUS = setting_limit("status_max_length", limits.STATUS_MAX_LENGTH)
CONTACTS = setting_limit("contacts_max", limits.CONTACTS_MAX, keyword="maxItems")


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is every value of the wrong JSON type
    (``"5"`` for an integer, ``true`` for an id, ``"yes"`` for a boolean), as the WebSocket
    does: 422 ``invalid_request``, the field and the expected type in ``details``. Only bodies
    are strict; path and query parameters are text on the wire and still parse from it."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


# P5.3: a disappearing-messages timer in whole seconds, or null for off.
MessageTtl = Annotated[
    StrictInt | None,
    Field(
        ge=MESSAGE_TTL_MIN_SECONDS,
        le=MESSAGE_TTL_MAX_SECONDS,
        description="seconds a new message lives (5 to 31,536,000: a year); null: off",
    ),
]


class CodeRequest(Strict):
    phone: str = Field(max_length=64, examples=["+989123456789"])


class CodeResponse(BaseModel):
    status: str = "sent"
    expires_in: int
    expires_at: str
    retry_after: int = Field(description="seconds until another code may be asked for")
    next_code_at: str


class DeviceIn(Strict):
    model: str = Field(min_length=1, max_length=128)
    os: str = Field(min_length=1, max_length=128)
    app_version: str = Field(min_length=1, max_length=64)


class SessionRequest(Strict):
    phone: str = Field(max_length=64)
    code: str = Field(max_length=16)
    name: str | None = Field(default=None, max_length=1024, json_schema_extra=NAME)
    device: DeviceIn
    cookie: bool = Field(
        default=False,
        description="web clients: also set the HttpOnly session cookie and the CSRF cookie; "
        "the token is then not in the answer (P6.1)",
    )


class UserOut(BaseModel):
    id: int
    phone: str
    name: str
    status: str | None
    has_photo: bool
    photo_url: str | None
    created_at: str | None
    updated_at: str | None
    default_message_ttl: int | None = Field(
        default=None, description="the disappearing-messages timer of new chats (P5.3)"
    )

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            phone=user.phone,
            name=user.name,
            status=user.status,
            has_photo=user.photo_key is not None,
            photo_url=f"/v1/users/{user.id}/photo" if user.photo_key else None,
            created_at=iso(user.created_at),
            updated_at=iso(user.updated_at),
            default_message_ttl=user.default_message_ttl,
        )


class MeOut(UserOut):
    """The caller's own profile (GET and PATCH /v1/me), with their settings."""

    group_adds: Literal["everyone", "contacts"] = Field(
        description="who may add the caller to groups; anyone else sends an invitation (P3.2)"
    )


class DeviceOut(BaseModel):
    id: int
    model: str
    os: str
    app_version: str
    created_at: str | None
    last_active_at: str | None
    last_ip: str | None
    current: bool = False

    @classmethod
    def of(cls, device: Device, current_id: int | None = None) -> DeviceOut:
        return cls(
            id=device.id,
            model=device.model,
            os=device.os,
            app_version=device.app_version,
            created_at=iso(device.created_at),
            last_active_at=iso(device.last_active_at),
            last_ip=device.last_ip,
            current=device.id == current_id,
        )


class SessionResponse(BaseModel):
    token: str | None = Field(description="null when the session is a cookie (cookie: true)")
    token_type: str = "bearer"  # noqa: S105 (the scheme's name, not a secret)
    user: UserOut
    device_id: int
    created_account: bool
    csrf_token: str | None = Field(
        default=None, description="with cookie: true, the value to send as X-CSRF-Token"
    )


class ProfilePatch(Strict):
    # Lengths are checked after cleaning, by the service, so every too-long value answers the
    # same stable code (name_too_long, status_too_long) whatever its size.
    name: str | None = Field(
        default=None,
        description="not empty; at most name_max_length (64) characters",
        json_schema_extra=NAME,
    )
    status: str | None = Field(
        default=None,
        description="null clears it; at most status_max_length (140) characters",
        json_schema_extra=STATUS,
    )
    group_adds: Literal["everyone", "contacts"] | None = Field(
        default=None,
        description='who may add the caller to groups: "contacts" (people whose number the '
        'caller holds) or "everyone"; anyone else sends an invitation (P3.2)',
    )
    default_message_ttl: MessageTtl = None


class ProfileView(BaseModel):
    """What the viewer may see of a profile: always ``id``; the rest only where allowed (P3.2):
    a field the viewer may not see is absent, not null."""

    model_config = ConfigDict(extra="forbid")
    id: int
    name: str | None = None
    status: str | None = None
    has_photo: bool | None = None
    photo_url: str | None = None
    phone: str | None = Field(default=None, description="only to those who hold the number")


class ContactsUpload(Strict):
    phones: list[str] = Field(
        description="numbers as written in the address book", json_schema_extra=CONTACTS
    )


class RegisteredContact(BaseModel):
    phone: str = Field(description="the number as it was sent")
    user_id: int
    profile: ProfileView


class ContactsResult(BaseModel):
    stored: int
    new_numbers: int
    registered: list[RegisteredContact]
    invalid: list[str]


class InviteRequest(Strict):
    phone: str = Field(max_length=64)


class InviteResponse(BaseModel):
    status: str = "sent"
    to: str
