"""The hot read answers (history, search, updates, chat list, and the send's stored message)
skip FastAPI's validation through their models in production (``api/responses.py``,
``answer``). What a client receives must not change for it: the same JSON as the model path
gives, and in the tests (``check_answers``) a field the model does not list still fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from payam.api.responses import AnyChat, MessageOut, MessagesOut, UpdatesOut
from tests.api.message_helpers import delete, direct_chat, group_chat, people, send
from tests.conftest import Harness


def through_model(model: Any, body: Any) -> Any:
    """The body FastAPI's ``response_model`` path answers (``response_model_exclude_unset``)."""
    adapter = TypeAdapter(model)
    return adapter.dump_python(adapter.validate_python(body), mode="json", exclude_unset=True)


def same_json(answered: Any, modelled: Any) -> bool:
    """Equal as JSON text, keys in any order: ``false`` is not ``0``, nor ``1.0`` ``1`` (the
    model path would have turned a 0 from the database into ``false``; Python's ``==`` would
    not tell them apart)."""
    return json.dumps(answered, sort_keys=True) == json.dumps(modelled, sort_keys=True)


async def test_hot_answers_are_what_their_models_would_answer(harness: Harness) -> None:
    owner, member = await people(harness, "Owner", "Member")
    chat_id = await group_chat(harness, owner, [member])
    sent = await send(harness, owner, chat_id, "hello, model")
    assert sent.status_code == 201
    assert sent.headers["content-type"] == "application/json"
    assert same_json(sent.json(), through_model(MessageOut, sent.json()))
    await send(harness, member, chat_id, "привет, ünïcode 👋")
    # Booleans and times from the database, in every shape a chat and a message take: a
    # muted chat, an edited message, one deleted for everyone, a direct chat, a channel.
    edited = (await send(harness, member, chat_id, "first draft")).json()
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}/messages/{edited['id']}",
        json={"text": "second draft"},
        headers=member.headers,
    )
    assert response.status_code == 200, response.text
    gone = (await send(harness, member, chat_id, "take it back")).json()
    assert (await delete(harness, member, chat_id, gone["id"], "everyone")).status_code == 204
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"muted": True}, headers=member.headers
    )
    assert response.status_code in {200, 204}, response.text
    direct = await direct_chat(harness, member, owner)
    await send(harness, owner, direct, "between us")
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "News", "handle": "answers_news"},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    await send(harness, member, response.json()["id"], "a post")

    answers = {
        f"/v1/chats/{chat_id}/messages": MessagesOut,
        "/v1/search?q=model": MessagesOut,
        "/v1/updates?after=0": UpdatesOut,
        "/v1/chats": list[AnyChat],
    }
    for path, model in answers.items():
        response = await harness.http.get(path, headers=member.headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert same_json(body, through_model(model, body)), path
    history = (
        await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=member.headers)
    ).json()
    # Text comes back as it was sent, not escaped away or mangled by the encoder.
    assert [m["text"] for m in history["messages"]][:2] == ["hello, model", "привет, ünïcode 👋"]
    assert [(m["edited"], m["deleted"]) for m in history["messages"]][2:] == [
        (True, False),
        (False, True),
    ]
    listed = (await harness.http.get("/v1/chats", headers=member.headers)).json()
    assert {c["type"]: c["muted"] for c in listed} == {
        "group": True,
        "direct": False,
        "channel": False,
    }


async def test_an_answer_with_a_field_its_model_does_not_list_fails_in_the_tests(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    (owner,) = await people(harness, "Owner")
    real = harness.services.chats.list_chats

    async def leaky(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        chats = await real(*args, **kwargs)
        return [{**chat, "phone": "+989120000000"} for chat in chats]

    await group_chat(harness, owner, [])
    monkeypatch.setattr(harness.services.chats, "list_chats", leaky)
    with pytest.raises(ValidationError, match="phone"):
        await harness.http.get("/v1/chats", headers=owner.headers)
