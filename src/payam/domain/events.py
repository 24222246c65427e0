"""Updates: every change a user should see, numbered per user (P5.1 sync).

An ``Update`` is stored (without message text) in the updates log and, after its transaction
committed, published to the user's connected devices. ``kind`` is part of the public contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Update kinds (public contract).
MESSAGE_NEW = "message_new"
MESSAGE_EDITED = "message_edited"
MESSAGE_DELETED = "message_deleted"  # for everyone
MESSAGE_HIDDEN = "message_hidden"  # deleted for me (only the caller's devices)
READ = "read"  # a member's read marker moved (read receipt)
CHAT_NEW = "chat_new"  # the user became a member of a chat
CHAT_UPDATED = "chat_updated"  # title, photo
CHAT_CLEARED = "chat_cleared"  # history cleared up to a seq
CHAT_REMOVED = "chat_removed"  # the user left, was removed, or the chat was deleted
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
MEMBER_ROLE = "member_role"
PROFILE_CHANGED = "profile_changed"
# The user was invited to a group (P3.2: their group_adds did not let the inviter add them);
# the payload carries the invitation as GET /v1/me/invitations shows it.
INVITATION_NEW = "invitation_new"
# Something the user must be told (a policy version, a partner proposal, a prize; P12.1,
# P8.2, P7.2); the payload carries the notice as GET /v1/me/notices shows it.
NOTICE = "notice"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Update:
    user_id: int
    seq: int
    kind: str
    chat_id: int | None
    message_id: int | None
    payload: dict[str, Any] | None
    created_at: float
    # The message as it is now, rendered for clients; not stored with the update.
    message: dict[str, Any] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "seq": self.seq,
            "kind": self.kind,
            "chat_id": self.chat_id,
            "at": iso(self.created_at),
        }
        if self.message is not None:
            body["message"] = self.message
        elif self.message_id is not None:
            body["message_id"] = self.message_id
        if self.payload:
            body.update(self.payload)
        return body


@dataclass(frozen=True, slots=True)
class Fanout:
    """The same update for each of ``user_ids``, in that order, recorded as one
    ``PendingUpdate`` each would be: what a message to a group's members is. One object for
    all of them, since building a ``PendingUpdate`` per recipient cost about a tenth of what
    storing the recipient's row does (docs/benchmarks.md)."""

    user_ids: Sequence[int]
    kind: str
    chat_id: int | None = None
    message_id: int | None = None
    payload: dict[str, Any] | None = None
    message: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """An update to record for ``user_id`` in the current transaction (seq not yet known)."""

    user_id: int
    kind: str
    chat_id: int | None = None
    message_id: int | None = None
    payload: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
