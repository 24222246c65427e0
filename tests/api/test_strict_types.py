"""JSON bodies are strict: a value of the wrong JSON type is refused, never coerced.

``{"seq": "5"}``, ``"reply_to": true`` and ``{"preferences": "yes"}`` used to be accepted (the
string and the boolean read as the number and the boolean they look like); the WebSocket
already refused the same values. Path and query parameters are text on the wire and still
parse from it.
"""

from __future__ import annotations

from typing import Any

from tests.api.message_helpers import group_chat, people, send
from tests.api.test_openapi import assert_error_shape
from tests.conftest import Harness


def refused_field(response: Any, field: str) -> None:
    assert_error_shape(response, 422, "invalid_request")
    locations = [detail["loc"] for detail in response.json()["error"]["details"]]
    assert any(loc[:2] == ["body", field] for loc in locations), locations


async def test_a_read_marker_as_a_string_is_refused(harness: Harness) -> None:
    alice, bob = await people(harness, "Alice", "Bob")
    chat_id = await group_chat(harness, alice, [bob])
    assert (await send(harness, bob, chat_id)).status_code == 201
    url = f"/v1/chats/{chat_id}/read"
    refused_field(await harness.http.post(url, json={"seq": "1"}, headers=alice.headers), "seq")
    refused_field(await harness.http.post(url, json={"seq": 1.0}, headers=alice.headers), "seq")
    ok = await harness.http.post(url, json={"seq": 1}, headers=alice.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"read_seq": 1}


async def test_a_boolean_is_not_a_message_id(harness: Harness) -> None:
    alice, bob = await people(harness, "Alice", "Bob")
    chat_id = await group_chat(harness, alice, [bob])
    refused_field(await send(harness, alice, chat_id, reply_to=True), "reply_to")
    refused_field(await send(harness, alice, chat_id, media_ids=[True]), "media_ids")
    history = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=alice.headers)
    assert history.json()["messages"] == [], "nothing is stored for a refused send"


async def test_a_consent_must_be_a_boolean(harness: Harness) -> None:
    (alice,) = await people(harness, "Alice")
    for value in ("yes", "true", 1):
        response = await harness.http.put(
            "/v1/me/consents", json={"preferences": value}, headers=alice.headers
        )
        refused_field(response, "preferences")
    consents = await harness.http.get("/v1/me/consents", headers=alice.headers)
    assert consents.status_code == 200
    preferences = next(c for c in consents.json()["categories"] if c["name"] == "preferences")
    assert preferences["granted"] is False


async def test_numbers_and_ids_as_text_are_refused_in_other_bodies(harness: Harness) -> None:
    alice, bob = await people(harness, "Alice", "Bob")
    http = harness.http
    response = await http.post(
        "/v1/chats", json={"type": "direct", "user_id": str(bob.user_id)}, headers=alice.headers
    )
    assert_error_shape(response, 422, "invalid_request")
    response = await http.patch("/v1/me", json={"name": 5}, headers=alice.headers)
    refused_field(response, "name")
    response = await http.post("/v1/blocks", json={"user_id": "2"}, headers=alice.headers)
    refused_field(response, "user_id")


async def test_path_and_query_parameters_still_parse_from_text(harness: Harness) -> None:
    alice, bob = await people(harness, "Alice", "Bob")
    chat_id = await group_chat(harness, alice, [bob])
    assert (await send(harness, bob, chat_id)).status_code == 201
    response = await harness.http.get(
        f"/v1/chats/{chat_id}/messages", params={"limit": "5", "after": "0"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert [m["text"] for m in response.json()["messages"]] == ["hello"]
    deleted = await harness.http.delete(
        f"/v1/chats/{chat_id}", params={"delete": "true"}, headers=alice.headers
    )
    assert deleted.status_code == 204, deleted.text
