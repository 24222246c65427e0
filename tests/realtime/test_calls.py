"""Call signalling over the WebSocket (docs/calls.md): who hears which frame, which refusals
carry which code, and the call record each call leaves in the chat (P5.1, P5.2).

Real sockets to a uvicorn on loopback, the harness's fake clock for the ring timeout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Account, Harness, LiveServer
from tests.realtime.conftest import Chatters, Socket, eventually, open_socket, sqlite_only

pytestmark = sqlite_only

OFFER = "v=0\r\no=- 1 2 IN IP4 192.0.2.77\r\ns=offer-marker-7f3a\r\n"
ANSWER = "v=0\r\no=- 3 4 IN IP4 198.51.100.5\r\ns=answer-marker-91bc\r\n"
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 203.0.113.42 54321 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


async def history(harness: Harness, who: Account, chat_id: int) -> list[dict[str, Any]]:
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=who.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["messages"]
    return found


async def call_records(harness: Harness, who: Account, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in await history(harness, who, chat_id) if m.get("kind") == "call"]


async def chat_entry(harness: Harness, who: Account, chat_id: int) -> dict[str, Any]:
    response = await harness.http.get("/v1/chats", headers=who.headers)
    assert response.status_code == 200, response.text
    chats = response.json()
    entry: dict[str, Any] = next(c for c in chats if c["id"] == chat_id)
    return entry


async def live(server: LiveServer, who: Account) -> Any:
    """An open socket that has resumed (so it is LIVE)."""
    context = open_socket(server, who.token)
    socket = await context.__aenter__()
    await socket.resume(0)
    return context, socket


async def second_device(harness: Harness, who: Account) -> Account:
    return await harness.sign_in(who.phone, None)


async def invite(socket: Socket, chat_id: int, call_id: str, *, video: bool = False) -> None:
    await socket.send(type="call.invite", chat_id=chat_id, call_id=call_id, sdp=OFFER, video=video)


async def test_an_answered_call_rings_every_device_and_leaves_an_answered_record(
    chatters: Chatters,
) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    ali_phone = await second_device(harness, ali)
    bita_laptop = await second_device(harness, bita)
    async with (
        open_socket(server, ali.token) as a,
        open_socket(server, ali_phone.token) as a2,
        open_socket(server, bita.token) as b,
        open_socket(server, bita_laptop.token) as b2,
    ):
        for s in (a, a2, b, b2):
            await s.resume(0)
        await invite(a, chatters.direct_id, "call-1", video=True)
        for ringing in (b, b2, a2):  # every callee device rings; the caller's other sees it
            frame = await ringing.next("call.invite")
            assert frame["call_id"] == "call-1"
            assert frame["chat_id"] == chatters.direct_id
            assert frame["sdp"] == OFFER
            assert frame["video"] is True
            assert frame["from_user_id"] == ali.user_id
            assert frame["from_device_id"] == ali.device_id

        await b2.send(type="call.candidates", call_id="call-1", candidates=[CANDIDATE])
        relayed = await a.next("call.candidates")
        assert relayed["candidates"] == [CANDIDATE]
        assert relayed["from_device_id"] == bita_laptop.device_id

        await b2.send(type="call.answer", call_id="call-1", sdp=ANSWER)
        answer = await a.next("call.answer")
        assert answer["sdp"] == ANSWER
        assert (answer["from_user_id"], answer["from_device_id"]) == (
            bita.user_id,
            bita_laptop.device_id,
        )
        elsewhere = await b.next("call.answered_elsewhere")
        assert elsewhere["from_device_id"] == bita_laptop.device_id
        await a2.next("call.answered_elsewhere")

        # The phone that did not answer can no longer take the call.
        await b.send(type="call.answer", call_id="call-1", sdp=ANSWER)
        refused = await b.next("error")
        assert refused["error"]["code"] == "answered_elsewhere"
        assert refused["call_id"] == "call-1"

        await a.send(type="call.select_answer", call_id="call-1", device_id=bita_laptop.device_id)
        selected = await b2.next("call.select_answer")
        assert selected["device_id"] == bita_laptop.device_id

        await a.send(type="call.candidates", call_id="call-1", candidates=[CANDIDATE])
        assert (await b2.next("call.candidates"))["from_user_id"] == ali.user_id
        await a.send(type="call.negotiate", call_id="call-1", sdp=OFFER)
        assert (await b2.next("call.negotiate"))["sdp"] == OFFER

        harness.clock.advance(42)
        await b2.send(type="call.hangup", call_id="call-1", reason="user_hangup")
        hangup = await a.next("call.hangup")
        assert hangup["reason"] == "user_hangup"
        for s in (a, a2, b, b2):
            ended = await s.next("call.ended")
            assert ended == {
                "type": "call.ended",
                "call_id": "call-1",
                "outcome": "answered",
                "duration_s": 42,
            }
    (record,) = await call_records(harness, bita, chatters.direct_id)
    assert record["sender_id"] == ali.user_id
    assert record["text"] is None
    call = record["call"]
    assert call["id"] == "call-1"
    assert call["video"] is True
    assert call["outcome"] == "answered"
    assert call["duration_s"] == 42
    assert call["started_at"].endswith("Z")
    entry = await chat_entry(harness, bita, chatters.direct_id)
    assert entry["last_message"]["kind"] == "call"
    assert entry["unread_count"] == 1


async def test_a_second_invite_to_someone_in_a_call_is_busy(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita, cyrus = chatters.ali, chatters.bita, chatters.cyrus
    direct = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=cyrus.headers
    )
    cyrus_bita = direct.json()["id"]
    async with (
        open_socket(server, ali.token) as a,
        open_socket(server, bita.token) as b,
        open_socket(server, cyrus.token) as c,
    ):
        for s in (a, b, c):
            await s.resume(0)
        await invite(a, chatters.direct_id, "first")
        await b.next("call.invite")
        await invite(c, cyrus_bita, "second")
        busy = await c.next("error")
        assert busy["error"]["code"] == "busy"
        assert busy["call_id"] == "second"
        # The same pair cannot start a second call either.
        await invite(b, chatters.direct_id, "third")
        assert (await b.next("error"))["error"]["code"] == "busy"
        # Bita's phone rang once: the next call frame she sees is the first call's hangup.
        await a.send(type="call.hangup", call_id="first")
        hangup = await b.next("call.hangup")
        assert hangup["call_id"] == "first"
        assert not [f for f in b.skipped if f["type"] == "call.invite"]
    (record,) = await call_records(harness, cyrus, cyrus_bita)
    assert record["call"]["outcome"] == "busy"
    assert record["sender_id"] == cyrus.user_id
    outcomes = [r["call"]["outcome"] for r in await call_records(harness, ali, chatters.direct_id)]
    assert sorted(outcomes) == ["busy", "missed"]


async def test_a_declined_call_tells_the_caller_and_stops_every_ringing_device(
    chatters: Chatters,
) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    bita_laptop = await second_device(harness, bita)
    async with (
        open_socket(server, ali.token) as a,
        open_socket(server, bita.token) as b,
        open_socket(server, bita_laptop.token) as b2,
    ):
        for s in (a, b, b2):
            await s.resume(0)
        await invite(a, chatters.direct_id, "decline-me")
        await b.next("call.invite")
        await b2.next("call.invite")
        await b.send(type="call.reject", call_id="decline-me")
        reject = await a.next("call.reject")
        assert reject["from_user_id"] == bita.user_id
        assert (await b2.next("call.reject"))["call_id"] == "decline-me"
        assert (await a.next("call.ended"))["outcome"] == "declined"
        # The call is over: a late answer finds nothing.
        await b2.send(type="call.answer", call_id="decline-me", sdp=ANSWER)
        assert (await b2.next("error"))["error"]["code"] == "call_not_found"
    (record,) = await call_records(harness, ali, chatters.direct_id)
    assert record["call"]["outcome"] == "declined"
    assert record["call"]["duration_s"] == 0


async def test_an_unanswered_call_ends_as_missed_after_the_ring_time(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(server, ali.token) as a, open_socket(server, bita.token) as b:
        for s in (a, b):
            await s.resume(0)
        await invite(a, chatters.direct_id, "ring-out")
        await b.next("call.invite")
        harness.clock.advance(59)
        await harness.services.calls.tick()
        assert "ring-out" in harness.services.calls.calls
        harness.clock.advance(2)
        await harness.services.calls.tick()
        for s in (a, b):
            hangup = await s.next("call.hangup")
            assert hangup == {"type": "call.hangup", "call_id": "ring-out", "reason": "missed"}
            assert (await s.next("call.ended"))["outcome"] == "missed"
    (record,) = await call_records(harness, bita, chatters.direct_id)
    assert record["call"]["outcome"] == "missed"
    entry = await chat_entry(harness, bita, chatters.direct_id)
    assert entry["unread_count"] == 1  # a missed call shows in the chat list


async def test_a_blocked_caller_rings_nobody_and_leaves_no_record(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    response = await harness.http.post(
        "/v1/blocks", json={"user_id": ali.user_id}, headers=bita.headers
    )
    assert response.status_code == 204, response.text
    async with open_socket(server, ali.token) as a, open_socket(server, bita.token) as b:
        for s in (a, b):
            await s.resume(0)
        await invite(a, chatters.direct_id, "from-blocked")
        refused = await a.next("error")
        assert refused["error"]["code"] == "blocked"
        assert refused["call_id"] == "from-blocked"
        # Nor may the one who blocked call the blocked user.
        await invite(b, chatters.direct_id, "to-blocked")
        assert (await b.next("error"))["error"]["code"] == "blocked"
        # Bita's socket heard no invite: the next frame after a ping is the pong.
        await b.send(type="ping")
        await b.next("pong")
        assert not [f for f in b.skipped if f["type"].startswith("call.")]
    assert await call_records(harness, ali, chatters.direct_id) == []


async def test_a_call_whose_sockets_all_drop_ends_as_failed(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(server, bita.token) as b:
        await b.resume(0)
        async with open_socket(server, ali.token) as a:
            await a.resume(0)
            await invite(a, chatters.direct_id, "dropped")
            await b.next("call.invite")
            await b.send(type="call.answer", call_id="dropped", sdp=ANSWER)
            await a.next("call.answer")
        # Ali's socket is gone; Bita's is still up: the call goes on.
        await b.send(type="ping")
        await b.next("pong")
        assert "dropped" in harness.services.calls.calls
    await eventually(lambda: "dropped" not in harness.services.calls.calls)  # recorded first
    records = await call_records(harness, ali, chatters.direct_id)
    assert [r["call"]["outcome"] for r in records] == ["failed"]


async def test_a_caller_whose_socket_drops_while_ringing_ends_the_call_as_failed(
    chatters: Chatters,
) -> None:
    harness, server = chatters.harness, chatters.server
    async with open_socket(server, chatters.bita.token) as b:
        await b.resume(0)
        async with open_socket(server, chatters.ali.token) as a:
            await a.resume(0)
            await invite(a, chatters.direct_id, "gone-caller")
            await b.next("call.invite")
        hangup = await b.next("call.hangup")
        assert hangup["reason"] == "failed"
        assert (await b.next("call.ended"))["outcome"] == "failed"
    records = await call_records(harness, chatters.bita, chatters.direct_id)
    assert [r["call"]["outcome"] for r in records] == ["failed"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "call.invite", "call_id": "x", "chat_id": 0, "sdp": OFFER}, "invalid_frame"),
        (
            {"type": "call.invite", "call_id": "bad id!", "chat_id": 1, "sdp": OFFER},
            "invalid_frame",
        ),
        ({"type": "call.invite", "call_id": "x", "chat_id": 1, "sdp": 5}, "invalid_frame"),
        (
            {"type": "call.invite", "call_id": "x", "chat_id": 1, "sdp": OFFER, "video": 1},
            "invalid_frame",
        ),
        ({"type": "call.answer", "call_id": "nobody", "sdp": ANSWER}, "call_not_found"),
        ({"type": "call.hangup", "call_id": "nobody"}, "call_not_found"),
        ({"type": "call.dance", "call_id": "nobody"}, "unknown_frame"),
    ],
)
async def test_malformed_or_unknown_call_frames_get_an_error_with_a_stable_code(
    chatters: Chatters, frame: dict[str, Any], code: str
) -> None:
    async with open_socket(chatters.server, chatters.ali.token) as a:
        await a.resume(0)
        await a.send(**frame)
        assert (await a.next("error"))["error"]["code"] == code


async def test_calls_happen_only_in_a_direct_chat_the_caller_is_in(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    async with open_socket(server, chatters.cyrus.token) as c:
        await c.resume(0)
        await invite(c, chatters.group_id, "group-call")
        assert (await c.next("error"))["error"]["code"] == "not_direct"
        await invite(c, chatters.direct_id, "not-mine")  # Ali and Bita's chat
        assert (await c.next("error"))["error"]["code"] == "chat_not_found"
    response = await harness.http.delete(
        f"/v1/chats/{chatters.direct_id}", headers=chatters.bita.headers
    )
    assert response.status_code == 204, response.text
    async with open_socket(server, chatters.ali.token) as a:
        await a.resume(0)
        await invite(a, chatters.direct_id, "left")
        assert (await a.next("error"))["error"]["code"] in ("peer_left", "chat_not_found")


async def test_someone_outside_the_call_cannot_touch_it(chatters: Chatters) -> None:
    server = chatters.server
    async with (
        open_socket(server, chatters.ali.token) as a,
        open_socket(server, chatters.cyrus.token) as c,
    ):
        for s in (a, c):
            await s.resume(0)
        await invite(a, chatters.direct_id, "private")
        await eventually(lambda: "private" in chatters.harness.services.calls.calls)
        for frame in (
            {"type": "call.answer", "call_id": "private", "sdp": ANSWER},
            {"type": "call.hangup", "call_id": "private"},
            {"type": "call.candidates", "call_id": "private", "candidates": [CANDIDATE]},
        ):
            await c.send(**frame)
            assert (await c.next("error"))["error"]["code"] == "call_not_found"
        assert "private" in chatters.harness.services.calls.calls


async def test_invites_are_rate_limited_per_pair(make_harness: Any, serve_live: Any) -> None:
    harness: Harness = await make_harness(limits={"call_invite_per_pair": "2/600"})
    server: LiveServer = await serve_live(harness)
    from tests.realtime.conftest import make_chatters  # noqa: PLC0415

    chatters = await make_chatters(harness, server)
    async with open_socket(server, chatters.ali.token) as a:
        await a.resume(0)
        for n in range(2):
            await invite(a, chatters.direct_id, f"n{n}")
            await a.send(type="call.hangup", call_id=f"n{n}")
            await a.next("call.ended")
        await invite(a, chatters.direct_id, "n2")
        assert (await a.next("error"))["error"]["code"] == "rate_limited"


async def test_sdp_and_candidates_are_relayed_but_never_stored_nor_logged(
    chatters: Chatters, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness, server = chatters.harness, chatters.server
    async with (
        open_socket(server, chatters.ali.token) as a,
        open_socket(server, chatters.bita.token) as b,
    ):
        for s in (a, b):
            await s.resume(0)
        await invite(a, chatters.direct_id, "secret")
        await b.next("call.invite")
        await a.send(type="call.candidates", call_id="secret", candidates=[CANDIDATE])
        await b.next("call.candidates")
        await b.send(type="call.answer", call_id="secret", sdp=ANSWER)
        await a.next("call.answer")
        await a.send(type="call.hangup", call_id="secret")
        await b.next("call.ended")
    await harness.services.db.dispose()  # every write on disk, the WAL folded in
    url = harness.settings.database_url
    assert url is not None
    database = Path(url.split("///", 1)[1])
    files = [*harness.settings.data_dir.rglob("*"), *database.parent.glob(database.name + "*")]
    stored = b"".join(p.read_bytes() for p in files if p.is_file())
    for secret in ("offer-marker-7f3a", "answer-marker-91bc", "203.0.113.42", "192.0.2.77"):
        assert secret.encode() not in stored
        assert secret not in caplog.text
    # The record itself is there.
    assert b'"outcome":"answered"' in stored


async def test_a_call_record_is_deleted_like_a_message_and_exported(chatters: Chatters) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(server, ali.token) as a:
        await a.resume(0)
        await invite(a, chatters.direct_id, "to-delete")
        await a.send(type="call.hangup", call_id="to-delete")
        await a.next("call.ended")
    (record,) = await call_records(harness, ali, chatters.direct_id)
    export = await harness.services.export.collect(bita.user_id)
    (chat,) = [c for c in export["chats"] if c["chat"]["id"] == chatters.direct_id]
    (exported,) = [m for m in chat["messages"] if m["kind"] == "call"]
    assert '"outcome":"missed"' in exported["call"]
    # The callee removes it for herself; the caller removes it for everyone.
    response = await harness.http.delete(
        f"/v1/chats/{chatters.direct_id}/messages/{record['id']}?for=me", headers=bita.headers
    )
    assert response.status_code == 204
    assert await call_records(harness, bita, chatters.direct_id) == []
    response = await harness.http.delete(
        f"/v1/chats/{chatters.direct_id}/messages/{record['id']}?for=everyone",
        headers=ali.headers,
    )
    assert response.status_code == 204
    (gone,) = [
        m for m in await history(harness, ali, chatters.direct_id) if m["id"] == record["id"]
    ]
    assert gone["deleted"] is True
    assert gone["call"] is None
    # Nor can a call's record be edited or forwarded.
    response = await harness.http.patch(
        f"/v1/chats/{chatters.direct_id}/messages/{record['id']}",
        json={"text": "x"},
        headers=ali.headers,
    )
    assert response.status_code in (404, 422)


async def test_the_records_of_calls_an_erased_user_placed_go_with_the_account(
    chatters: Chatters,
) -> None:
    from tests.api.test_erasure import erase, fresh_code  # noqa: PLC0415

    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(server, ali.token) as a:
        await a.resume(0)
        await invite(a, chatters.direct_id, "erased-call", video=True)
        await a.send(type="call.hangup", call_id="erased-call")
        await a.next("call.ended")
    (record,) = await call_records(harness, bita, chatters.direct_id)
    await erase(harness, ali, await fresh_code(harness, ali))
    (gone,) = [
        m for m in await history(harness, bita, chatters.direct_id) if m["id"] == record["id"]
    ]
    assert gone["deleted"] is True
    assert gone["call"] is None
    await harness.services.purge.run()
    await harness.services.db.dispose()
    url = harness.settings.database_url
    assert url is not None
    database = Path(url.split("///", 1)[1])
    stored = b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
    )
    assert b'"outcome":"missed"' not in stored


async def test_a_callee_device_that_connects_while_it_rings_is_offered_the_call(
    chatters: Chatters,
) -> None:
    """A tab opened from an "Incoming call" push connects after the invite: it gets the
    invite with the ring time left and the caller's candidates so far, and can answer."""
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    bita_laptop = await second_device(harness, bita)
    async with open_socket(server, ali.token) as a, open_socket(server, bita.token) as b:
        for s in (a, b):
            await s.resume(0)
        await invite(a, chatters.direct_id, "late-1", video=True)
        await b.next("call.invite")
        await a.send(type="call.candidates", call_id="late-1", candidates=[CANDIDATE])
        await b.next("call.candidates")
        harness.clock.advance(20)
        async with open_socket(server, bita_laptop.token) as late:
            offered = await late.next("call.invite")
            assert offered == {
                "type": "call.invite",
                "call_id": "late-1",
                "chat_id": chatters.direct_id,
                "sdp": OFFER,
                "video": True,
                "lifetime_ms": 40_000,
                "from_user_id": ali.user_id,
                "from_device_id": ali.device_id,
            }
            candidates = await late.next("call.candidates")
            assert candidates["candidates"] == [CANDIDATE]
            assert candidates["from_device_id"] == ali.device_id
            await late.resume(0)
            await late.send(type="call.answer", call_id="late-1", sdp=ANSWER)
            answer = await a.next("call.answer")
            assert (answer["from_user_id"], answer["from_device_id"]) == (
                bita.user_id,
                bita_laptop.device_id,
            )
            await b.next("call.answered_elsewhere")
            harness.clock.advance(5)
            await a.send(type="call.hangup", call_id="late-1")
            assert (await late.next("call.ended"))["outcome"] == "answered"
        # The caller's own sockets got no second invite.
        assert not [f for f in a.skipped if f["type"] == "call.invite"]
    (record,) = await call_records(harness, ali, chatters.direct_id)
    assert record["call"]["outcome"] == "answered"
    assert record["call"]["duration_s"] == 5


async def test_a_device_connecting_after_the_ring_time_is_offered_nothing(
    chatters: Chatters,
) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    async with open_socket(server, ali.token) as a:
        await a.resume(0)
        await invite(a, chatters.direct_id, "late-2")
        await eventually(lambda: "late-2" in harness.services.calls.calls)
        harness.clock.advance(61)
        await harness.services.calls.tick()
        assert (await a.next("call.ended"))["outcome"] == "missed"
        async with open_socket(server, bita.token) as late:
            await late.resume(0)
            # Handled after the socket's hello: the call is gone, so nothing was offered.
            await late.send(type="call.answer", call_id="late-2", sdp=ANSWER)
            assert (await late.next("error"))["error"]["code"] == "call_not_found"
            assert not [f for f in late.skipped if f["type"].startswith("call.")]


async def test_a_device_connecting_after_another_answered_is_offered_nothing(
    chatters: Chatters,
) -> None:
    harness, server = chatters.harness, chatters.server
    ali, bita = chatters.ali, chatters.bita
    bita_laptop = await second_device(harness, bita)
    async with open_socket(server, ali.token) as a, open_socket(server, bita.token) as b:
        for s in (a, b):
            await s.resume(0)
        await invite(a, chatters.direct_id, "late-3")
        await b.next("call.invite")
        await b.send(type="call.answer", call_id="late-3", sdp=ANSWER)
        await a.next("call.answer")
        async with open_socket(server, bita_laptop.token) as late:
            await late.resume(0)
            await late.send(type="call.answer", call_id="late-3", sdp=ANSWER)
            assert (await late.next("error"))["error"]["code"] == "answered_elsewhere"
            assert not [f for f in late.skipped if f["type"].startswith("call.")]
        await a.send(type="call.hangup", call_id="late-3")
        assert (await b.next("call.ended"))["outcome"] == "answered"
