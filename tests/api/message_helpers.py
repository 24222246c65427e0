"""Small helpers shared by the message, search and updates tests: people, chats, sends."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import Account, Harness

_numbers = itertools.count(1)


async def people(harness: Harness, *names: str) -> list[Account]:
    """Sign in one account per name, each with a fresh number."""
    return [await harness.sign_in(f"+98912{next(_numbers):07d}", name) for name in names]


async def direct_chat(harness: Harness, a: Account, b: Account) -> int:
    response = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": b.user_id}, headers=a.headers
    )
    assert response.status_code in {200, 201}, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def group_chat(
    harness: Harness, owner: Account, members: list[Account], title: str = "Group"
) -> int:
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": title, "member_ids": [m.user_id for m in members]},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    chat_id: int = response.json()["id"]
    return chat_id


_client_ids = itertools.count(1)


async def send(
    harness: Harness,
    who: Account,
    chat_id: int,
    text: str | None = "hello",
    *,
    client_id: str | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"client_id": client_id or f"c-{next(_client_ids)}", **extra}
    if text is not None:
        body["text"] = text
    return await harness.http.post(f"/v1/chats/{chat_id}/messages", json=body, headers=who.headers)


async def sent(harness: Harness, who: Account, chat_id: int, text: str, **extra: Any) -> Any:
    response = await send(harness, who, chat_id, text, **extra)
    assert response.status_code == 201, response.text
    return response.json()


async def history(harness: Harness, who: Account, chat_id: int, **params: Any) -> list[Any]:
    response = await harness.http.get(
        f"/v1/chats/{chat_id}/messages", params=params, headers=who.headers
    )
    assert response.status_code == 200, response.text
    messages: list[Any] = response.json()["messages"]
    return messages


async def delete(
    harness: Harness, who: Account, chat_id: int, message_id: int, for_: str
) -> httpx.Response:
    return await harness.http.delete(
        f"/v1/chats/{chat_id}/messages/{message_id}", params={"for": for_}, headers=who.headers
    )


async def search(harness: Harness, who: Account, q: str, **params: Any) -> list[Any]:
    response = await harness.http.get("/v1/search", params={"q": q, **params}, headers=who.headers)
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()["messages"]
    return found


async def updates(harness: Harness, who: Account, **params: Any) -> Any:
    response = await harness.http.get("/v1/updates", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def count_rows(harness: Harness, table: Any, *where: Any) -> int:
    async with harness.services.db.read() as conn:
        value = await conn.scalar(select(func.count()).select_from(table).where(*where))
    return int(value or 0)
