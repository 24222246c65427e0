"""Who sees what of a profile (P1.5, P3.2). The one place this rule lives.

- The user themself sees everything, including their number.
- A user who holds the number (has it in their uploaded contacts) sees name, status and photo,
  and the number they already hold.
- A user who shares a chat with them sees name, status and photo, but not the number.
- Anyone else sees the id alone.
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
    shares_chat: bool = False


def sees_profile(relation: Relation) -> bool:
    return relation.is_self or relation.holds_number or relation.shares_chat


def sees_number(relation: Relation) -> bool:
    return relation.is_self or relation.holds_number


def profile_view(user: User, relation: Relation) -> dict[str, Any]:
    """The JSON-ready profile of ``user`` as a viewer with ``relation`` may see it."""
    view: dict[str, Any] = {"id": user.id}
    if sees_profile(relation):
        view["name"] = user.name
        view["status"] = user.status
        view["has_photo"] = user.photo_key is not None
        view["photo_url"] = f"/v1/users/{user.id}/photo" if user.photo_key else None
    if sees_number(relation):
        view["phone"] = user.phone
    return view
