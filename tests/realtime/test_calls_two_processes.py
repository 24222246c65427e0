"""Calls across two server processes sharing one PostgreSQL and a Redis channel: the call's
state lives where the invite arrived, and frames from and to a device connected to the other
process cross on the bus (docs/calls.md). Two apps in one test process stand for the two."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.conftest import Harness, LiveServer, skip_without_redis
from tests.realtime.conftest import eventually, make_chatters, open_socket

pytestmark = pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

OFFER = "v=0\r\ns=two-process-offer\r\n"
ANSWER = "v=0\r\ns=two-process-answer\r\n"


async def two_servers(make_harness: Any, serve_live: Any) -> tuple[LiveServer, LiveServer]:
    await skip_without_redis()
    channel = f"payam:test:{secrets.token_hex(6)}"
    first: Harness = await make_harness(event_bus="redis", redis_channel=channel)
    second: Harness = await make_harness(event_bus="redis", redis_channel=channel)
    return await serve_live(first), await serve_live(second)


async def test_a_call_between_devices_on_two_processes(make_harness: Any, serve_live: Any) -> None:
    one, two = await two_servers(make_harness, serve_live)
    chatters = await make_chatters(one.harness, one)
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(one, ali.token) as a, open_socket(two, bita.token) as b:
        await a.resume(0)
        await b.resume(0)
        await a.send(
            type="call.invite", chat_id=chatters.direct_id, call_id="across", sdp=OFFER, video=False
        )
        invite = await b.next("call.invite")
        assert invite["sdp"] == OFFER
        assert invite["from_device_id"] == ali.device_id
        # Bita's process does not hold the call: her frames are forwarded to the owner.
        await b.send(type="call.answer", call_id="across", sdp=ANSWER)
        answer = await a.next("call.answer")
        assert answer["sdp"] == ANSWER
        assert answer["from_device_id"] == bita.device_id
        candidate = {"candidate": "candidate:1 1 udp 1 203.0.113.9 9 typ relay", "sdpMid": "0"}
        await b.send(type="call.candidates", call_id="across", candidates=[candidate])
        assert (await a.next("call.candidates"))["candidates"] == [candidate]
        one.harness.clock.advance(7)
        await b.send(type="call.hangup", call_id="across")
        await a.next("call.hangup")
        for s in (a, b):
            ended = await s.next("call.ended")
            assert ended["outcome"] == "answered"
            assert ended["duration_s"] == 7
    response = await two.harness.http.get(
        f"/v1/chats/{chatters.direct_id}/messages", headers=bita.headers
    )
    (record,) = [m for m in response.json()["messages"] if m.get("kind") == "call"]
    assert record["call"]["outcome"] == "answered"


async def test_a_call_fails_when_its_sockets_on_both_processes_drop(
    make_harness: Any, serve_live: Any
) -> None:
    one, two = await two_servers(make_harness, serve_live)
    chatters = await make_chatters(one.harness, one)
    calls = one.harness.services.calls
    async with open_socket(one, chatters.ali.token) as a:
        await a.resume(0)
        async with open_socket(two, chatters.bita.token) as b:
            await b.resume(0)
            await a.send(
                type="call.invite",
                chat_id=chatters.direct_id,
                call_id="drop",
                sdp=OFFER,
                video=True,
            )
            await b.next("call.invite")
            await b.send(type="call.answer", call_id="drop", sdp=ANSWER)
            await a.next("call.answer")
        # Bita's socket (on the other process) is gone; Ali's is still up: the call goes on.
        await a.send(type="ping")
        await a.next("pong")
        assert "drop" in calls.calls
    await eventually(lambda: "drop" not in calls.calls)
    response = await one.harness.http.get(
        f"/v1/chats/{chatters.direct_id}/messages", headers=chatters.ali.headers
    )
    (record,) = [m for m in response.json()["messages"] if m.get("kind") == "call"]
    assert record["call"]["outcome"] == "failed"


async def test_a_callee_connecting_to_the_other_process_while_it_rings_can_answer(
    make_harness: Any, serve_live: Any
) -> None:
    """The call is owned by the first process; Bita's socket opens on the second after the
    invite (a tab opened from a push): her call.hello crosses the bus and the owner offers it."""
    one, two = await two_servers(make_harness, serve_live)
    chatters = await make_chatters(one.harness, one)
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(one, ali.token) as a:
        await a.resume(0)
        await a.send(
            type="call.invite", chat_id=chatters.direct_id, call_id="late", sdp=OFFER, video=False
        )
        await eventually(lambda: "late" in one.harness.services.calls.calls)
        async with open_socket(two, bita.token) as b:
            invite = await b.next("call.invite")
            assert invite["sdp"] == OFFER
            assert invite["from_device_id"] == ali.device_id
            assert 0 < invite["lifetime_ms"] <= 60_000
            await b.resume(0)
            await b.send(type="call.answer", call_id="late", sdp=ANSWER)
            assert (await a.next("call.answer"))["from_device_id"] == bita.device_id
            await a.send(type="call.hangup", call_id="late")
            assert (await b.next("call.ended"))["outcome"] == "answered"
