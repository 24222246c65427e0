"""Who sees what of a profile (P1.5, P3.2). The one place this rule lives.

Viewer A looking at owner B:

- B themself sees everything, including their number.
- A holds B's number (has it in their uploaded contacts): A sees name, status and photo, and
  the number A already holds.
- B let A see it through a chat: A sees name, status and photo, never the number. Being put
  in a chat by someone is not letting them see: a chat counts only where B spoke for
  themself. That is, A and B are both members of a chat (not a channel) in which
  B's membership *shows* B's profile, because B
  - created the chat (a group, or the direct chat B opened with A), or
  - joined it themself (an invite link, or accepting an invitation), or
  - sent a message in it (answered), or
  - was added to the group by someone who holds B's number;
  or A and B share their direct chat and B holds A's number (B knows A).
  A stranger who opens a direct chat with B, or puts B in a group, sees ``{"id": B}`` until
  B answers there; the stranger shows their own profile to B by doing so.
- B invited A to a group and A has not answered the invitation yet: A sees who invited them.
- Anyone else sees the id alone.
- A user the owner blocked never sees the photo, whatever else ties them.

Every answer that shows a profile (``GET /v1/users/{id}``, ``/photo``, contact discovery) goes
through ``profile_view``; no other answer (chats, members, messages, updates, exports of
another user's data) carries a name, status or photo of anyone but the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payam.domain.models import User


@dataclass(frozen=True, slots=True)
class Relation:
    """What ties a viewer to a profile's owner. Computed by ``services.profiles``."""

    is_self: bool = False
    holds_number: bool = False
    # A chat in which the owner's membership shows their profile (see the module docstring).
    shown_in_chat: bool = False
    # Their direct chat, with both still in it, and the owner holds the viewer's number.
    known_in_direct: bool = False
    # The owner invited the viewer to a group and the invitation is pending.
    invited_viewer: bool = False
    blocked_by_owner: bool = False


def sees_photo(relation: Relation) -> bool:
    return sees_profile(relation) and not (relation.blocked_by_owner and not relation.is_self)


def sees_profile(relation: Relation) -> bool:
    return (
        relation.is_self
        or relation.holds_number
        or relation.shown_in_chat
        or relation.known_in_direct
        or relation.invited_viewer
    )


def sees_number(relation: Relation) -> bool:
    return relation.is_self or relation.holds_number


def profile_view(user: User, relation: Relation) -> dict[str, Any]:
    """The JSON-ready profile of ``user`` as a viewer with ``relation`` may see it."""
    view: dict[str, Any] = {"id": user.id}
    if sees_profile(relation):
        view["name"] = user.name
        view["status"] = user.status
        photo = user.photo_key is not None and sees_photo(relation)
        view["has_photo"] = photo
        view["photo_url"] = f"/v1/users/{user.id}/photo" if photo else None
    if sees_number(relation):
        view["phone"] = user.phone
    return view
