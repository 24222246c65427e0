"""Black-box: acknowledged means durable (P5.1), even through a SIGKILL.

The real server runs as a process on its default SQLite with durable commits. Concurrent
clients send over HTTP and over WebSockets, each send with a client_id of its own, to a group
and two direct chats. The server is killed with SIGKILL while sends are in flight, then
started again on the same data directory. Every send that was not acknowledged is retried with
its client_id. Then: every acknowledged message is present exactly once, unchanged (same id,
same seq, same text); every retried one is present exactly once; and each chat's seq runs
1..N with no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.system.test_server import Server, free_port, running, server_env, sign_in

pytestmark = pytest.mark.system

USERS = 4
ACKED_BEFORE_KILL = 150  # the kill comes once this many sends were acknowledged
WS_WINDOW = 8  # sends each socket keeps in flight
PHASE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Send:
    sender: int  # index into the users
    chat_id: int
    client_id: str
    text: str


@dataclass
class Ledger:
    """What the clients know: every send they tried, and the stored message of each ack."""

    tried: dict[str, Send] = field(default_factory=dict)
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def attempt(self, sender: int, chat_id: int, client_id: str) -> Send:
        send = Send(sender, chat_id, client_id, f"message {client_id}")
        self.tried[client_id] = send
        return send

    def ack(self, send: Send, message: dict[str, Any]) -> None:
        assert message["client_id"] == send.client_id
        assert message["text"] == send.text
        assert message["chat_id"] == send.chat_id
        self.acked[send.client_id] = message
        if len(self.acked) >= ACKED_BEFORE_KILL:
            self.enough.set()


async def http_sender(
    server: Server, token: str, sender: int, chats: list[int], ledger: Ledger
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
        for n in itertools.count():
            send = ledger.attempt(sender, chats[n % len(chats)], f"h{sender}-{n}")
            try:
                response = await client.post(
                    f"/v1/chats/{send.chat_id}/messages",
                    json={"client_id": send.client_id, "text": send.text},
                )
            except httpx.TransportError:
                return  # the server is gone
            assert response.status_code == 201, response.text
            ledger.ack(send, response.json())


async def ws_sender(
    server: Server, token: str, sender: int, chats: list[int], ledger: Ledger
) -> None:
    url = server.url.replace("http://", "ws://") + "/v1/ws"
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    in_flight: dict[str, Send] = {}
    counter = itertools.count()

    async def send_next(ws: ClientConnection) -> None:
        n = next(counter)
        send = ledger.attempt(sender, chats[n % len(chats)], f"w{sender}-{n}")
        in_flight[send.client_id] = send
        frame = {"type": "send", "chat_id": send.chat_id, "client_id": send.client_id}
        await ws.send(json.dumps({**frame, "text": send.text}))

    with contextlib.suppress(ConnectionClosed, OSError):
        async with ws:
            for _ in range(WS_WINDOW):
                await send_next(ws)
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack":
                    ledger.ack(in_flight.pop(frame["client_id"]), frame["message"])
                    await send_next(ws)
                else:
                    assert frame["type"] == "update", frame  # no errors, ever


async def history(client: httpx.AsyncClient, token: str, chat_id: int) -> list[dict[str, Any]]:
    """The whole history of a chat, oldest first, page by page."""
    out: list[dict[str, Any]] = []
    while True:
        after = out[-1]["seq"] if out else 0
        response = await client.get(
            f"/v1/chats/{chat_id}/messages",
            params={"after": after, "limit": 200},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        page = response.json()["messages"]
        if not page:
            return out
        out.extend(page)


def set_up_chats(
    server: Any, http: httpx.Client, phone_prefix: str
) -> tuple[list[str], list[dict[str, str]], dict[int, set[int]], list[list[int]]]:
    """USERS people signed in, a group of all of them and two direct chats: their tokens, auth
    headers, each chat's members, and each person's chats."""
    sessions = [sign_in(server, http, f"{phone_prefix}{n}", f"User {n}") for n in range(USERS)]
    tokens = [s["token"] for s in sessions]
    ids = [s["user"]["id"] for s in sessions]
    auth = [{"Authorization": f"Bearer {t}"} for t in tokens]
    group = http.post(
        "/v1/chats",
        json={"type": "group", "title": "Everyone", "member_ids": ids[1:]},
        headers=auth[0],
    ).json()["id"]
    direct = {
        pair: http.post(
            "/v1/chats", json={"type": "direct", "user_id": ids[pair[1]]}, headers=auth[pair[0]]
        ).json()["id"]
        for pair in ((0, 1), (2, 3))
    }
    members = {group: set(range(USERS)), direct[0, 1]: {0, 1}, direct[2, 3]: {2, 3}}
    chats_of = [[c for c, who in members.items() if u in who] for u in range(USERS)]
    return tokens, auth, members, chats_of


async def test_every_acknowledged_message_survives_a_sigkill_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir)]
    env = server_env(PAYAM_RATE_LIMITS="off")
    ledger = Ledger()

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as http:
        tokens, auth, members, chats_of = set_up_chats(server, http, "+98912555000")

        senders = [
            asyncio.create_task(sender(server, tokens[u], u, chats_of[u], ledger))
            for u in range(USERS)
            for sender in (http_sender, ws_sender)
        ]
        async with asyncio.timeout(PHASE_TIMEOUT):
            await ledger.enough.wait()
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        async with asyncio.timeout(PHASE_TIMEOUT):
            await asyncio.gather(*senders)
    assert server.process.returncode == -signal.SIGKILL

    acked_before = dict(ledger.acked)
    unacked = [s for cid, s in ledger.tried.items() if cid not in acked_before]
    assert unacked, "the kill came when nothing was in flight"

    with running(tmp_path, data_dir, port, args, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            # Retry what was never acknowledged; it may have been stored before the kill.
            for send in unacked:
                response = await client.post(
                    f"/v1/chats/{send.chat_id}/messages",
                    json={"client_id": send.client_id, "text": send.text},
                    headers=auth[send.sender],
                )
                assert response.status_code == 201, response.text
                ledger.ack(send, response.json())
            # Retrying an acknowledged send returns the message the ack carried.
            for client_id in list(acked_before)[:: max(1, len(acked_before) // 10)]:
                send = ledger.tried[client_id]
                response = await client.post(
                    f"/v1/chats/{send.chat_id}/messages",
                    json={"client_id": client_id, "text": send.text},
                    headers=auth[send.sender],
                )
                assert response.status_code == 201
                assert response.headers.get("Idempotent-Replayed") == "true"
                assert response.json() == acked_before[client_id]

            stored: dict[str, dict[str, Any]] = {}
            for chat_id, who in members.items():
                messages = await history(client, tokens[min(who)], chat_id)
                assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
                client_ids = [m["client_id"] for m in messages]
                assert len(client_ids) == len(set(client_ids)), "a message is stored twice"
                stored.update((m["client_id"], m) for m in messages)
                tried_here = {c for c, s in ledger.tried.items() if s.chat_id == chat_id}
                assert set(client_ids) == tried_here

    for client_id, message in acked_before.items():
        assert stored[client_id] == message, "an acknowledged message changed or was lost"
    assert set(stored) == set(ledger.tried) == set(ledger.acked)
