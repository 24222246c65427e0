"""An update frame is the update as JSON; a message shared by many members' updates is encoded
once, and each member's frame still carries its own seq (issue #12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payam.domain.events import Update
from payam.realtime import gateway as gateway_module
from payam.realtime.gateway import Gateway


def a_gateway() -> Gateway:
    none: Any = None
    return Gateway(none, none, none, none)


def test_update_frames_say_what_the_update_says() -> None:
    gateway = a_gateway()
    message = {"id": 5, "chat_id": 3, "seq": 9, "text": 'سلام \u2028 "quoted"', "media": []}
    updates = [
        Update(1, 7, "message_new", 3, 5, None, 1_700_000_000.25, message),
        Update(2, 8, "message_deleted", 3, 5, None, 1_700_000_001.0, None),
        Update(3, 9, "read", 3, None, {"user_id": 1, "read_seq": 9}, 1_700_000_002.0, None),
        Update(4, 2, "notice", None, None, {"notice": {"kind": "policy"}}, 1_700_000_003.0),
    ]
    for update in updates:
        assert json.loads(gateway.update_text(update)) == {"type": "update", **update.to_json()}


def test_a_group_message_is_encoded_once_for_all_its_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = a_gateway()
    message = {"id": 5, "chat_id": 3, "seq": 9, "text": "to the whole group"}
    encoded: list[Any] = []
    dumps = gateway_module._dumps

    def counting(body: dict[str, Any]) -> str:
        if body is message:
            encoded.append(body)
        return dumps(body)

    monkeypatch.setattr(gateway_module, "_dumps", counting)
    frames = [
        json.loads(
            gateway.update_text(Update(uid, 100 + uid, "message_new", 3, 5, None, 1.0, message))
        )
        for uid in range(1, 52)
    ]
    assert len(encoded) == 1
    assert [f["seq"] for f in frames] == [100 + uid for uid in range(1, 52)]
    assert all(f["message"] == message for f in frames)
    # Another message (a new dict) is encoded for itself, not served from the first.
    other = {"id": 6, "chat_id": 3, "seq": 10, "text": "next"}
    frame = json.loads(gateway.update_text(Update(1, 200, "message_new", 3, 6, None, 1.0, other)))
    assert frame["message"] == other
