"""Black-box: two ``payam serve`` processes share one PostgreSQL schema and a Redis channel.

A user connected to one process gets, live, what a user connected to the other sends, over the
socket or over HTTP, and typing too. Redis is only a wake-up: when the second process's
subscription is cut, what was published meanwhile is lost on the wire, and the resync after it
resubscribes delivers it from the updates log, with no gap and no duplicate.

Needs PostgreSQL (``PAYAM_REQUIRE_POSTGRES=1`` makes its absence a failure) and Redis
(``PAYAM_REQUIRE_REDIS=1`` likewise).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    REQUIRE_POSTGRES,
    _pg_execute,
    _postgres_problem,
    skip_without_redis,
)
from tests.realtime.conftest import Socket, close, seqs
from tests.system.test_server import Server, free_port, running, server_env, sign_in

pytestmark = pytest.mark.system


@asynccontextmanager
async def socket_to(server: Server, token: str) -> AsyncIterator[Socket]:
    url = server.url.replace("http://", "ws://") + "/v1/ws"
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    try:
        yield Socket(ws)
    finally:
        await close(ws)


async def subscribers(admin: aioredis.Redis, server: Server) -> list[dict[str, Any]]:
    """The Redis connections through which ``server`` listens to the channel."""
    prefix = f"payam-{server.process.pid}-"
    clients = await admin.client_list()
    return [c for c in clients if c["name"].startswith(prefix) and c["sub"] != "0"]


async def listeners(admin: aioredis.Redis, channel: str) -> int:
    ((_, count),) = await admin.pubsub_numsub(channel)
    return int(count)


@pytest.fixture
async def shared_backends() -> AsyncIterator[tuple[str, str]]:
    """A fresh PostgreSQL schema and Redis channel, for this test only."""
    problem = await _postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    await skip_without_redis()
    schema = f"two_{secrets.token_hex(6)}"
    await _pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, f"payam-test:{secrets.token_hex(6)}"
    finally:
        await _pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_a_message_reaches_a_user_connected_to_the_other_process(
    tmp_path: Path, shared_backends: tuple[str, str]
) -> None:
    schema, channel = shared_backends
    common = {
        "PAYAM_DATABASE_URL": POSTGRES_URL,
        "PAYAM_DATABASE_SCHEMA": schema,
        "PAYAM_EVENT_BUS": "redis",
        "PAYAM_REDIS_URL": REDIS_URL,
        "PAYAM_REDIS_CHANNEL": channel,
        # One secret for both: a code sent by one process is checked by the hash it keyed.
        "PAYAM_SECRET_KEY": "two-processes-secret-" + "k" * 32,
    }
    admin = aioredis.from_url(REDIS_URL)
    ports = free_port(), free_port()
    dirs = tmp_path / "one", tmp_path / "two"
    envs = [
        server_env(**common, PAYAM_PORT=str(p), PAYAM_DATA_DIR=str(d))
        for p, d in zip(ports, dirs, strict=True)
    ]
    try:
        with (
            running(tmp_path, dirs[0], ports[0], [], envs[0]) as one,
            running(tmp_path, dirs[1], ports[1], [], envs[1]) as two,
            one.http() as http_one,
            two.http() as http_two,
        ):
            ali = sign_in(one, http_one, "+989124440001", "Ali")
            bita = sign_in(two, http_two, "+989124440002", "Bita")
            async with (
                httpx.AsyncClient(base_url=one.url, timeout=10) as to_one,
                httpx.AsyncClient(base_url=two.url, timeout=10) as to_two,
            ):
                await deliver_across(admin, channel, (one, to_one, ali), (two, to_two, bita))
        for server in (one, two):
            assert server.process.returncode in {0, -15}, server.log()
            assert "Traceback" not in server.log(), server.log()
    finally:
        await admin.aclose()


Side = tuple[Server, httpx.AsyncClient, dict[str, Any]]


async def deliver_across(admin: aioredis.Redis, channel: str, first: Side, second: Side) -> None:
    """Ali on process one, Bita on process two."""
    one, http_one, ali = first
    two, http_two, bita = second
    ali_auth = {"Authorization": f"Bearer {ali['token']}"}
    chat = await http_one.post(
        "/v1/chats", json={"type": "direct", "user_id": bita["user"]["id"]}, headers=ali_auth
    )
    assert chat.status_code == 201, chat.text
    chat_id = chat.json()["id"]
    assert await listeners(admin, channel) == 2

    async with socket_to(one, ali["token"]) as on_one, socket_to(two, bita["token"]) as on_two:
        bita_seen, _ = await on_two.resume(0)
        await on_one.resume(0)
        assert [u["kind"] for u in bita_seen] == ["chat_new"]

        # Over the socket to process one: acked there, delivered live by process two.
        await on_one.send(type="send", chat_id=chat_id, client_id="ws-1", text="over the socket")
        ack = await on_one.next("ack")
        (got,) = await on_two.updates_until(2)
        assert got["message"] == ack["message"]
        bita_seen.append(got)

        # Over HTTP to process one.
        sent = await http_one.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": "http-1", "text": "over HTTP"},
            headers=ali_auth,
        )
        assert sent.status_code == 201, sent.text
        (got,) = await on_two.updates_until(3)
        assert got["message"] == sent.json()
        bita_seen.append(got)

        # The other way, and typing, which is never stored.
        await on_two.send(type="typing", chat_id=chat_id)
        typing = await on_one.next("typing")
        assert typing == {"type": "typing", "chat_id": chat_id, "user_id": bita["user"]["id"]}
        await on_two.send(type="send", chat_id=chat_id, client_id="ws-2", text="back")
        reply = await on_one.next("update")
        assert reply["message"]["text"] == "back"
        bita_seen += await on_two.updates_until(4)  # her own message, on her own device

        # Cut process two's subscription: the next wake-up is lost on the wire...
        (subscription,) = await subscribers(admin, two)
        await admin.client_kill_filter(_id=subscription["id"])
        async with asyncio.timeout(10):
            while True:  # until Redis has noticed
                if await listeners(admin, channel) == 1:
                    break
                await asyncio.sleep(0.01)
        missed = await http_one.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": "http-2", "text": "while the wire was cut"},
            headers=ali_auth,
        )
        assert missed.status_code == 201, missed.text
        assert await listeners(admin, channel) == 1  # published with nobody there to hear
        # ...and the resync when process two is back reads it from the log.
        (got,) = await on_two.updates_until(5)
        assert got["message"]["text"] == "while the wire was cut"
        bita_seen.append(got)

        after = await http_one.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": "http-3", "text": "and live again"},
            headers=ali_auth,
        )
        assert after.status_code == 201, after.text
        bita_seen += await on_two.updates_until(6)

    assert seqs(bita_seen) == [1, 2, 3, 4, 5, 6]
    texts = [u["message"]["text"] for u in bita_seen[1:]]
    assert texts == [
        "over the socket",
        "over HTTP",
        "back",
        "while the wire was cut",
        "and live again",
    ]
    logged = await http_two.get(
        "/v1/updates?after=0", headers={"Authorization": f"Bearer {bita['token']}"}
    )
    assert [u["seq"] for u in logged.json()["updates"]] == [1, 2, 3, 4, 5, 6]


async def test_a_device_signed_out_through_one_process_is_closed_and_refused_by_the_other(
    tmp_path: Path, shared_backends: tuple[str, str]
) -> None:
    """Issue 9.2: the session end crosses Redis. Process two has the session in its cache and
    a socket of it open; the device is removed through process one; process two closes the
    socket with 4401 and refuses the token at once."""
    schema, channel = shared_backends
    common = {
        "PAYAM_DATABASE_URL": POSTGRES_URL,
        "PAYAM_DATABASE_SCHEMA": schema,
        "PAYAM_EVENT_BUS": "redis",
        "PAYAM_REDIS_URL": REDIS_URL,
        "PAYAM_REDIS_CHANNEL": channel,
        "PAYAM_SECRET_KEY": "two-processes-secret-" + "k" * 32,
        "PAYAM_CODE_RESEND_WAITS": "0",  # a second device of one number at once
    }
    ports = free_port(), free_port()
    dirs = tmp_path / "one", tmp_path / "two"
    envs = [
        server_env(**common, PAYAM_PORT=str(p), PAYAM_DATA_DIR=str(d))
        for p, d in zip(ports, dirs, strict=True)
    ]
    with (
        running(tmp_path, dirs[0], ports[0], [], envs[0]) as one,
        running(tmp_path, dirs[1], ports[1], [], envs[1]) as two,
        one.http() as http_one,
        two.http() as http_two,
    ):
        laptop = sign_in(one, http_one, "+989124450001", "Bita")
        phone = sign_in(one, http_one, "+989124450001", None)
        phone_auth = {"Authorization": f"Bearer {phone['token']}"}
        assert http_two.get("/v1/me", headers=phone_auth).status_code == 200  # cached there
        async with socket_to(two, phone["token"]) as on_two:
            await on_two.resume(0)
            removed = http_one.delete(
                f"/v1/devices/{phone['device_id']}",
                headers={"Authorization": f"Bearer {laptop['token']}"},
            )
            assert removed.status_code == 204, removed.text
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    assert (await on_two.recv())["type"] != "update"
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "session_ended")
        refused = http_two.get("/v1/me", headers=phone_auth)
        assert refused.status_code == 401, refused.text
        assert (
            http_two.get(
                "/v1/me", headers={"Authorization": f"Bearer {laptop['token']}"}
            ).status_code
            == 200
        )
    for server in (one, two):
        assert "Traceback" not in server.log(), server.log()
