"""Who sees what of a profile (P1.5, P3.2). The one place this rule lives.

- The user themself sees everything, including their number.
- A user who holds the number (has it in their uploaded contacts) sees name, status and photo,
  and the number they already hold.
- A user who shares a chat with them sees name, status and photo, but not the number.
- Anyone else sees the id alone.
- A user the owner blocked never sees the photo, whatever else ties them.
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
    blocked_by_owner: bool = False


def sees_photo(relation: Relation) -> bool:
    return sees_profile(relation) and not (relation.blocked_by_owner and not relation.is_self)


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
        photo = user.photo_key is not None and sees_photo(relation)
        view["has_photo"] = photo
        view["photo_url"] = f"/v1/users/{user.id}/photo" if photo else None
    if sees_number(relation):
        view["phone"] = user.phone
    return view
