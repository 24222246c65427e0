"""The bodies the HTTP API answers, as pydantic models: the OpenAPI document's response schemas.

Services build plain dicts; a route that declares one of these as its ``response_model``
answers the dict through it. Every model forbids fields it does not list, so a service that
starts answering a new field fails the tests (a 500 on the answer) until the field is declared
here: the document cannot silently fall behind the answers. Fields that only some answers
carry (a direct chat's ``peer_id``, a channel post's ``views``) have a default and are left
out of an answer that does not carry them (``response_model_exclude_unset``), so the answer is
byte for byte what the service built. ``tests/api/test_schemathesis.py`` checks the document
against the real answers of every operation.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.background import BackgroundTask
from starlette.responses import Response

from payam.api.schemas import ProfileView

# Every route whose answer is a service's dict declares its model with these options.
EXACT: dict[str, Any] = {"response_model_exclude_unset": True}


class Answer(Response):
    """A service's dict as JSON, encoded by pydantic-core straight from the dict (about five
    times faster than the standard library's encoder on a page of messages), as compact as
    Starlette's ``JSONResponse``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def answer(
    model: Any,
    content: Any,
    *,
    check: bool,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Answer:
    """Answer ``content``, documented as ``model`` by the route's ``response_model``, without
    FastAPI's validation and re-serialisation through the model: on a history page of 50
    those cost 0.27 ms, against 0.05 for encoding the dict. With ``check`` (settings
    ``check_answers``, on in the tests) the content is validated first, so an answer with a
    field the model does not list still fails, as it does on every other route. The body is
    the service's dict as it is: what ``response_model_exclude_unset`` made of it too."""
    if check:
        _adapter(model).validate_python(content)
    return Answer(content, status_code=status_code, headers=headers, background=background)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


Time = Annotated[str, Field(description="ISO 8601, UTC")]


# --- messages ------------------------------------------------------------------------------


class MediaOut(Out):
    id: int
    kind: Literal["image", "video", "audio", "file"]
    mime: str
    size: int
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
    name: str | None = Field(
        default=None, description="the file's name as sent, cleaned (Content-Disposition)"
    )


class CallRecordOut(Out):
    """What happened on a call (P5.1), never how: no SDP, no address (docs/calls.md)."""

    id: str
    video: bool
    outcome: Literal["answered", "missed", "declined", "busy", "failed"]
    started_at: Time | None
    duration_s: int | float | None


class MessageOut(Out):
    """A message as every door shows it (HTTP, WebSocket, updates). A message deleted for the
    viewer alone keeps only ``id``, ``chat_id``, ``seq``, ``deleted`` and ``text`` (null)."""

    id: int
    chat_id: int
    seq: int
    deleted: bool
    text: str | None
    sender_id: int | None = Field(default=None, description="null on a channel post")
    client_id: str | None = Field(default=None, description="null on a channel post")
    reply_to: int | None = None
    forward_of: int | None = None
    forward_from_user_id: int | None = None
    created_at: Time | None = None
    edited: bool = False
    edited_at: Time | None = None
    media: list[MediaOut] = Field(default_factory=list)
    views: int | None = Field(default=None, description="channel posts only (P10.1)")
    forwards: int | None = Field(default=None, description="channel posts only (P10.1)")
    expires_at: Time | None = Field(
        default=None, description="when the message disappears; null without a timer (P5.3)"
    )
    kind: Literal["call"] | None = Field(default=None, description="a call's record (P5.1)")
    call: CallRecordOut | None = Field(default=None, description="with kind call; null deleted")


class MessagesOut(Out):
    messages: list[MessageOut]


class ReadOut(Out):
    read_seq: int


class UpdateOut(BaseModel):
    """One missed update; the fields after ``at`` depend on ``kind`` (docs/realtime.md)."""

    model_config = ConfigDict(extra="allow")
    seq: int
    kind: str
    chat_id: int | None
    at: Time | None
    message: MessageOut | None = None
    message_id: int | None = None


class UpdatesOut(Out):
    updates: list[UpdateOut]
    last_seq: int
    has_more: bool
    resync_required: bool


# --- chats ---------------------------------------------------------------------------------


class MemberOut(Out):
    user_id: int
    role: str
    joined_at: Time | None
    read_seq: int | None = Field(description="null between two people where one blocked the other")


class StaffOut(Out):
    user_id: int
    role: str
    joined_at: Time | None


class ChatOut(Out):
    """A direct chat or a group as a member sees it."""

    id: int
    type: Literal["direct", "group"]
    title: str | None
    photo_url: str | None
    created_at: Time | None
    last_seq: int
    member_count: int
    role: str
    read_seq: int
    muted: bool
    peer_id: int | None = Field(default=None, description="direct chats: the other member")
    unread_count: int | None = Field(default=None, description="in the list and in one chat")
    last_message: MessageOut | None = Field(default=None, description="in the list only")
    members: list[MemberOut] | None = Field(default=None, description="in one chat only")
    invited: list[int] | None = Field(
        default=None,
        description="a new group only: the people invited instead of added, as their "
        "group_adds asks (P3.2; see GET /v1/me/invitations)",
    )
    message_ttl: int | None = Field(
        default=None, description="the disappearing-messages timer in seconds, or null (P5.3)"
    )


class ChannelOut(Out):
    """A channel as anyone signed in sees it: never its subscribers (P5.1)."""

    id: int
    type: Literal["channel"]
    title: str | None
    handle: str | None
    description: str | None
    photo_url: str | None
    created_at: Time | None
    last_seq: int
    subscriber_count: int
    subscribed: bool
    role: str | None = Field(default=None, description="with a subscription only")
    read_seq: int | None = Field(default=None, description="with a subscription only")
    muted: bool | None = Field(default=None, description="with a subscription only")
    admins: list[StaffOut] | None = Field(default=None, description="to the owner only")
    unread_count: int | None = None
    last_message: MessageOut | None = None
    message_ttl: int | None = Field(
        default=None, description="the disappearing-messages timer in seconds, or null (P5.3)"
    )


AnyChat = Annotated[ChatOut | ChannelOut, Field(discriminator="type")]


class InviteLinkOut(Out):
    token: str
    chat_id: int
    created_at: Time | None
    revoked: bool


class BlockedOut(Out):
    user_id: int
    blocked_at: Time | None


class ReportOut(Out):
    report_id: int


class ViewsOut(Out):
    views: dict[str, int] = Field(description="post id -> its current view count")


class ChannelStatsOut(Out):
    """Aggregates only; cells of fewer than ``min_group`` people are hidden (docs/api.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    chat_id: int
    from_: str = Field(alias="from")
    to: str
    days: int
    min_group: int
    subscribers: dict[str, Any]
    viewers: dict[str, Any]
    daily: list[dict[str, Any]]
    posts: list[dict[str, Any]]


# --- people, contacts, consents, notices ---------------------------------------------------


class HeldContact(Out):
    user_id: int
    profile: ProfileView


class ContactsHeldOut(Out):
    count: int
    stored_as: str
    hashes: list[str]
    registered: list[HeldContact]


class DeletedOut(Out):
    deleted: int


class ConsentCategoryOut(Out):
    name: str
    purpose: str
    optional: bool
    granted: bool
    cookies: list[str]
    features: list[str]
    updated_at: Time | None


class ConsentsOut(Out):
    categories: list[ConsentCategoryOut]
    features: dict[str, bool]


class PreferencesOut(Out):
    preferences: dict[str, str]
    cookie_set: bool
    reason: str | None


class PolicyOut(Out):
    version: str
    important: bool
    sha256: str
    published_at: Time | None
    text: str


class NoticeOut(BaseModel):
    """One notice; its details are under a key named as its ``kind`` (``policy``,
    ``partner``, ``prize``)."""

    model_config = ConfigDict(extra="allow")
    id: int
    kind: str
    created_at: Time | None
    seen_at: Time | None
    acknowledged_at: Time | None


class NoticesOut(Out):
    notices: list[NoticeOut]


class PartnerOut(Out):
    """A proposed share of users' data with a partner (P8.2)."""

    partner_id: int
    name: str
    purpose: str
    fields: list[str]
    notice_until: Time | None
    object_url: str
    objected_at: Time | None = Field(default=None, description="once the user objected")


class DisclosureOut(Out):
    partner_id: int
    partner: str
    purpose: str
    fields: list[str]
    row_count: int
    sha256: str
    exported_at: Time | None


class DisclosuresOut(Out):
    disclosures: list[DisclosureOut]
    objections: list[PartnerOut]
    pending: list[PartnerOut]


class PersonalFileOut(Out):
    """A file outside the database that holds personal data (storage/data_map.py)."""

    file: str
    field: str
    category: str
    purposes: list[str]
    retention: str


class PrivacyMapOut(Out):
    fields: list[dict[str, Any]]
    files: list[PersonalFileOut] = Field(
        default_factory=list, description="personal data kept in files, not tables (P7.1)"
    )


class ErasureReceiptOut(Out):
    receipt_id: str
    user_id: int
    erased_at: Time | None
    removed: dict[str, int]
    kept: list[dict[str, Any]]
    note: str


class HealthOut(Out):
    status: Literal["ok"]
    version: str


# --- admin ---------------------------------------------------------------------------------


class AdminDeviceOut(Out):
    id: int
    model: str
    os: str
    app_version: str
    last_active_at: Time | None


class AdminUserOut(Out):
    id: int
    phone: str
    name: str
    status: str | None
    has_photo: bool
    created_at: Time | None
    suspended: bool
    devices: list[AdminDeviceOut]
    contacts_count: int


class AdminReportOut(Out):
    id: int
    reporter_id: int | None
    reported_user_id: int | None
    chat_id: int | None
    message_id: int | None
    reason: str
    created_at: Time | None
    status: Literal["open", "resolved", "dismissed"]
    message_text: str | None = Field(description="null once the message was deleted")


class AdminAccessOut(Out):
    id: int
    admin_id: int | None = Field(description="null once that operator's account was deleted")
    subject_id: int
    action: str = Field(max_length=64)
    at: Time


class AdminAuditOut(Out):
    entries: list[AdminAccessOut] = Field(description="newest first")
    next_before: int | None = Field(
        description="pass as ``before`` for the older page; null when there is none"
    )


# --- binary answers ------------------------------------------------------------------------

BINARY = {"schema": {"type": "string", "format": "binary"}}


def binary(*media_types: str) -> dict[str, Any]:
    """The ``content`` of a response whose body is a file of one of these types."""
    return dict.fromkeys(media_types, BINARY)
