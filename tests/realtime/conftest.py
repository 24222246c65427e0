"""WebSocket clients for the realtime tests: real sockets to a uvicorn on loopback.

``Socket`` speaks payam's frames and reads with a timeout, so a missing frame fails the test
instead of hanging it. Absence is never proved by waiting: a test that must show "nothing
more" makes one more update and reads up to it, since updates arrive in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import Account, Harness, LiveServer

TIMEOUT = 10.0
# The gateway's rules do not depend on the database: most socket tests run on SQLite alone,
# and those that read the updates log and history under way run on both backends.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
_phones = itertools.count(1)


@dataclass
class Socket:
    ws: ClientConnection
    skipped: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, within: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), within)
        assert isinstance(raw, str), raw
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def until(
        self, match: Callable[[dict[str, Any]], bool], within: float = TIMEOUT
    ) -> list[dict[str, Any]]:
        """Every frame up to and including the first that matches."""
        frames = []
        async with asyncio.timeout(within):
            while True:
                frame = await self.recv(within)
                frames.append(frame)
                if match(frame):
                    return frames

    async def next(self, kind: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The next frame of this type; the frames before it are kept in ``skipped``."""
        frames = await self.until(lambda f: f["type"] == kind, within)
        self.skipped.extend(frames[:-1])
        return frames[-1]

    async def resume(self, after: int) -> tuple[list[dict[str, Any]], int]:
        """Resume and read the replay: (the updates, the ``synced`` last_seq)."""
        await self.send(type="resume", after=after)
        frames = await self.until(lambda f: f["type"] == "synced")
        self.skipped.extend(f for f in frames[:-1] if f["type"] != "update")
        return [f for f in frames if f["type"] == "update"], frames[-1]["last_seq"]

    async def updates_until(self, seq: int) -> list[dict[str, Any]]:
        """Updates up to ``seq`` (other frames kept in ``skipped``)."""
        frames = await self.until(lambda f: f["type"] == "update" and f["seq"] >= seq)
        self.skipped.extend(f for f in frames if f["type"] != "update")
        return [f for f in frames if f["type"] == "update"]


@asynccontextmanager
async def open_socket(
    server: LiveServer, token: str, *, in_query: bool = False, **options: Any
) -> AsyncIterator[Socket]:
    if in_query:
        ws = await connect(f"{server.ws_url}?token={token}", **options)
    else:
        headers = {"Authorization": f"Bearer {token}"}
        ws = await connect(server.ws_url, additional_headers=headers, **options)
    try:
        yield Socket(ws)
    finally:
        await close(ws)


async def close(ws: ClientConnection) -> None:
    """Close, reading what is still on the way: a client that stopped reading would otherwise
    never see the server's close frame behind it and wait out its close timeout."""
    closing = asyncio.create_task(ws.close())
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()
    await closing


async def eventually(check: Callable[[], object], within: float = TIMEOUT) -> None:
    """Wait until ``check()`` is true: for the server's side of a socket to catch up."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.005)


def bare(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Update frames as ``GET /v1/updates`` shows them (without the frame's ``type``)."""
    return [{k: v for k, v in u.items() if k != "type"} for u in updates]


def seqs(updates: list[dict[str, Any]]) -> list[int]:
    return [u["seq"] for u in updates]


@dataclass
class Chatters:
    """Three signed-in people: a direct chat between Ali and Bita, a group of all three."""

    server: LiveServer
    ali: Account
    bita: Account
    cyrus: Account
    direct_id: int
    group_id: int

    @property
    def harness(self) -> Harness:
        return self.server.harness

    async def send_http(self, who: Account, chat_id: int, text: str) -> dict[str, Any]:
        response = await self.harness.http.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": f"http-{next(_phones)}", "text": text},
            headers=who.headers,
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()
        return message

    async def last_seq(self, who: Account) -> int:
        response = await self.harness.http.get("/v1/updates?after=0&limit=1", headers=who.headers)
        assert response.status_code == 200, response.text
        last: int = response.json()["last_seq"]
        return last

    async def all_updates(self, who: Account) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            after = out[-1]["seq"] if out else 0
            response = await self.harness.http.get(
                f"/v1/updates?after={after}&limit=1000", headers=who.headers
            )
            body = response.json()
            out.extend(body["updates"])
            if not body["has_more"]:
                return out


async def make_chatters(harness: Harness, server: LiveServer) -> Chatters:
    base = 989120000000 + next(_phones) * 10
    ali = await harness.sign_in(f"+{base + 1}", "Ali")
    bita = await harness.sign_in(f"+{base + 2}", "Bita")
    cyrus = await harness.sign_in(f"+{base + 3}", "Cyrus")
    direct = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=ali.headers
    )
    assert direct.status_code == 201, direct.text
    group = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Three", "member_ids": [bita.user_id, cyrus.user_id]},
        headers=ali.headers,
    )
    assert group.status_code == 201, group.text
    return Chatters(server, ali, bita, cyrus, direct.json()["id"], group.json()["id"])


@pytest.fixture
async def chatters(live_server: LiveServer) -> Chatters:
    return await make_chatters(live_server.harness, live_server)
