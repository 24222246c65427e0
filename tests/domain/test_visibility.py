"""The one visibility rule (P1.5, P3.2), as a pure function of the viewer's relation."""

from __future__ import annotations

import pytest

from payam.domain.models import User
from payam.domain.visibility import Relation, profile_view, sees_number, sees_profile

SARA = User(
    id=7,
    phone="+989120000001",
    name="Sara",
    status="at work",
    photo_key="a" * 64 + ".webp",
    photo_thumb_key="b" * 64 + ".webp",
    created_at=1.0,
    updated_at=2.0,
)
NO_PHOTO = User(
    id=8,
    phone="+989120000002",
    name="Bita",
    status=None,
    photo_key=None,
    photo_thumb_key=None,
    created_at=1.0,
    updated_at=1.0,
)
PROFILE = {
    "id": 7,
    "name": "Sara",
    "status": "at work",
    "has_photo": True,
    "photo_url": "/v1/users/7/photo",
}


def test_a_stranger_sees_the_id_alone() -> None:
    assert profile_view(SARA, Relation()) == {"id": 7}


def test_a_holder_of_the_number_sees_profile_and_the_number_they_hold() -> None:
    assert profile_view(SARA, Relation(holds_number=True)) == {
        **PROFILE,
        "phone": "+989120000001",
    }


def test_a_chat_partner_the_owner_let_in_sees_the_profile_but_not_the_number() -> None:
    assert profile_view(SARA, Relation(shown_in_chat=True)) == PROFILE
    assert profile_view(SARA, Relation(known_in_direct=True)) == PROFILE
    assert profile_view(SARA, Relation(invited_viewer=True)) == PROFILE


def test_the_user_sees_everything_of_their_own_profile() -> None:
    assert profile_view(SARA, Relation(is_self=True)) == {**PROFILE, "phone": "+989120000001"}


def test_no_photo_shows_as_no_url() -> None:
    view = profile_view(NO_PHOTO, Relation(holds_number=True))
    assert view["has_photo"] is False
    assert view["photo_url"] is None
    assert view["status"] is None


def test_the_view_never_carries_storage_keys_or_times() -> None:
    view = profile_view(SARA, Relation(is_self=True))
    text = repr(view)
    assert "a" * 64 not in text and "b" * 64 not in text
    assert "created_at" not in view and "updated_at" not in view


@pytest.mark.parametrize(
    ("relation", "profile", "number"),
    [
        (Relation(), False, False),
        (Relation(holds_number=True), True, True),
        (Relation(shown_in_chat=True), True, False),
        (Relation(known_in_direct=True), True, False),
        (Relation(invited_viewer=True), True, False),
        (Relation(holds_number=True, shown_in_chat=True), True, True),
        (Relation(blocked_by_owner=True), False, False),
        (Relation(is_self=True), True, True),
    ],
)
def test_rule_table(relation: Relation, profile: bool, number: bool) -> None:
    assert sees_profile(relation) is profile
    assert sees_number(relation) is number
