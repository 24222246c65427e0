"""``GET /v1/ws`` over real sockets: authentication, resume and live delivery with no gap and no
duplicate, sends with acks, refused frames, typing, several devices (P1.4, P5.1)."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import DEVICE, LiveServer
from tests.realtime.conftest import Chatters, bare, eventually, open_socket, seqs, sqlite_only


async def closed_code(server: LiveServer, token: str, *, in_query: bool = False) -> int | None:
    return (await closed_with(server, token, in_query=in_query))[0]


async def closed_with(server: LiveServer, token: str, *, in_query: bool = False) -> tuple[int, str]:
    async with open_socket(server, token, in_query=in_query) as sock:
        with pytest.raises(ConnectionClosed) as closed:
            await sock.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@sqlite_only
async def test_token_in_the_header_or_the_query_is_accepted(chatters: Chatters) -> None:
    for in_query in (False, True):
        async with open_socket(chatters.server, chatters.ali.token, in_query=in_query) as sock:
            updates, last = await sock.resume(0)
            assert last == await chatters.last_seq(chatters.ali)
            assert seqs(updates) == list(range(1, last + 1))


@sqlite_only
async def test_a_bad_or_missing_token_closes_with_4401(chatters: Chatters) -> None:
    server = chatters.server
    assert await closed_code(server, "not-a-token") == 4401
    assert await closed_code(server, "not-a-token", in_query=True) == 4401
    # The reason says which, as docs/realtime.md lists them (issue 9.16).
    assert await closed_with(server, "") == (4401, "missing_token")
    assert await closed_with(server, "", in_query=True) == (4401, "missing_token")
    assert await closed_with(server, "not-a-token") == (4401, "invalid_token")
    # A signed-out device's token is refused too.
    signed_out = await chatters.harness.sign_in(chatters.ali.phone, None)
    response = await chatters.harness.http.delete(
        f"/v1/devices/{signed_out.device_id}", headers=chatters.ali.headers
    )
    assert response.status_code == 204, response.text
    assert await closed_code(server, signed_out.token) == 4401


async def test_resume_from_zero_replays_everything_then_streams_live_in_order(
    chatters: Chatters,
) -> None:
    c = chatters
    for n in range(5):
        await c.send_http(c.bita, c.direct_id, f"before {n}")
    logged = await c.all_updates(c.ali)
    async with open_socket(c.server, c.ali.token) as sock:
        replayed, last = await sock.resume(0)
        assert last == logged[-1]["seq"]
        assert bare(replayed) == logged  # the same updates, the same shape as GET /v1/updates
        texts = [u["message"]["text"] for u in replayed if u["kind"] == "message_new"]
        assert texts == [f"before {n}" for n in range(5)]
        for n in range(3):
            await c.send_http(c.bita, c.direct_id, f"live {n}")
        await c.send_http(c.cyrus, c.group_id, "live in the group")
        live = await sock.updates_until(last + 4)
        assert seqs(live) == [last + 1, last + 2, last + 3, last + 4]
        assert [u["message"]["text"] for u in live] == [
            "live 0",
            "live 1",
            "live 2",
            "live in the group",
        ]
        assert [u["chat_id"] for u in live] == [c.direct_id] * 3 + [c.group_id]


@sqlite_only
async def test_resume_from_the_middle_replays_only_the_rest(chatters: Chatters) -> None:
    c = chatters
    for n in range(6):
        await c.send_http(c.bita, c.direct_id, f"m{n}")
    logged = await c.all_updates(c.ali)
    middle = logged[len(logged) // 2]["seq"]
    async with open_socket(c.server, c.ali.token) as sock:
        replayed, last = await sock.resume(middle)
        assert bare(replayed) == [u for u in logged if u["seq"] > middle]
        assert last == logged[-1]["seq"]
        # Resuming at the end replays nothing.
        replayed, again = await sock.resume(last)
        assert replayed == []
        assert again == last


async def test_reconnecting_with_the_last_seq_seen_loses_nothing_and_repeats_nothing(
    chatters: Chatters,
) -> None:
    c = chatters
    async with open_socket(c.server, c.ali.token) as ali:
        seen, last = await ali.resume(0)
        await c.send_http(c.bita, c.direct_id, "while connected")
        seen += await ali.updates_until(last + 1)
    # Ali is offline: Bita writes over HTTP, Cyrus over his own socket.
    async with open_socket(c.server, c.cyrus.token) as cyrus:
        await cyrus.resume(await c.last_seq(c.cyrus))
        for n in range(4):
            await c.send_http(c.bita, c.direct_id, f"offline http {n}")
            await cyrus.send(type="send", chat_id=c.group_id, client_id=f"cy-{n}", text=f"ws {n}")
            ack = await cyrus.next("ack")
            assert ack["client_id"] == f"cy-{n}"
            assert ack["created"] is True
    async with open_socket(c.server, c.ali.token) as ali:
        missed, last = await ali.resume(seen[-1]["seq"])
        assert len(missed) == 8
        seen += missed
        marker = await c.send_http(c.bita, c.direct_id, "after the reconnect")
        seen += await ali.updates_until(last + 1)
    assert seqs(seen) == list(range(1, len(seen) + 1))  # no gap, no duplicate
    assert bare(seen) == (await c.all_updates(c.ali))[: len(seen)]
    assert seen[-1]["message"]["id"] == marker["id"]
    texts = [u["message"]["text"] for u in seen if u["kind"] == "message_new"]
    assert texts.count("offline http 3") == 1
    assert texts.count("ws 3") == 1


async def test_a_send_over_the_socket_is_acked_with_the_stored_message_once(
    chatters: Chatters,
) -> None:
    c = chatters
    async with open_socket(c.server, c.ali.token) as sock:
        await sock.resume(await c.last_seq(c.ali))
        frame = {"type": "send", "chat_id": c.direct_id, "client_id": "a-1", "text": "salam"}
        await sock.send(**frame)
        ack = await sock.next("ack")
        message = ack["message"]
        assert ack["client_id"] == "a-1"
        assert ack["created"] is True
        assert message["text"] == "salam"
        assert message["chat_id"] == c.direct_id
        assert message["sender_id"] == c.ali.user_id
        assert message["client_id"] == "a-1"
        assert message["seq"] == 1
        # A retry (the ack was lost, say) gets the same stored message.
        await sock.send(**frame)
        again = await sock.next("ack")
        assert again["created"] is False
        assert again["message"] == message
        # The same client_id for something else is refused, and says which send it refuses.
        await sock.send(**{**frame, "text": "something else"})
        refused = await sock.next("error")
        assert refused["client_id"] == "a-1"
        assert refused["error"]["code"] == "client_id_reused"
        # Over HTTP, the same client_id is the same message as well.
        response = await c.harness.http.post(
            f"/v1/chats/{c.direct_id}/messages",
            json={"client_id": "a-1", "text": "salam"},
            headers=c.ali.headers,
        )
        assert response.status_code == 201
        assert response.json()["id"] == message["id"]
    history = await c.harness.http.get(f"/v1/chats/{c.direct_id}/messages", headers=c.bita.headers)
    assert [m["id"] for m in history.json()["messages"]] == [message["id"]]


@sqlite_only
async def test_bad_frames_are_answered_with_errors_and_the_socket_stays_open(
    chatters: Chatters,
) -> None:
    c = chatters
    outsider = await c.harness.sign_in("+989129990001", "Outsider")
    async with open_socket(c.server, outsider.token) as sock:
        await sock.resume(0)
        expected = [
            ("not json", "invalid_json"),
            ("[1, 2]", "invalid_frame"),
            ('{"type": "dance"}', "unknown_frame"),
            ("{}", "unknown_frame"),
            ('{"type": "resume", "after": -1}', "invalid_frame"),
            ('{"type": "resume", "after": "zero"}', "invalid_frame"),
            ('{"type": "send", "client_id": "x1", "text": "hi"}', "invalid_frame"),
            ('{"type": "send", "chat_id": "1", "client_id": "x2", "text": "hi"}', "invalid_frame"),
            ('{"type": "send", "chat_id": 1, "client_id": "x3", "text": 5}', "invalid_frame"),
            (f'{{"type": "send", "chat_id": {c.direct_id}, "text": "hi"}}', "invalid_client_id"),
            (
                f'{{"type": "send", "chat_id": {c.direct_id}, "client_id": "x4", "text": "hi"}}',
                "chat_not_found",
            ),
            (
                '{"type": "send", "chat_id": 999999, "client_id": "x5", "text": "hi"}',
                "chat_not_found",
            ),
            (f'{{"type": "typing", "chat_id": {c.group_id}}}', "chat_not_found"),
            ('{"type": "typing"}', "invalid_frame"),
        ]
        for raw, code in expected:
            await sock.ws.send(raw)
            error = await sock.next("error")
            assert error["error"]["code"] == code, raw
            assert error["error"]["message"]
        await sock.ws.send(b"\x00binary")
        assert (await sock.next("error"))["error"]["code"] == "invalid_frame"
        await sock.send(type="ping")
        assert await sock.next("pong") == {"type": "pong"}
    # Nothing was stored for the outsider, and no member heard of it.
    for member in (c.ali, c.bita):
        history = await c.harness.http.get(
            f"/v1/chats/{c.direct_id}/messages", headers=member.headers
        )
        assert history.json()["messages"] == []


@sqlite_only
async def test_typing_reaches_the_other_members_and_is_never_an_update(
    chatters: Chatters,
) -> None:
    c = chatters
    async with (
        open_socket(c.server, c.ali.token) as ali,
        open_socket(c.server, c.bita.token) as bita,
        open_socket(c.server, c.cyrus.token) as cyrus,
    ):
        for sock, who in ((ali, c.ali), (bita, c.bita), (cyrus, c.cyrus)):
            await sock.resume(await c.last_seq(who))
        before = {who.user_id: await c.last_seq(who) for who in (c.ali, c.bita, c.cyrus)}
        await ali.send(type="typing", chat_id=c.group_id)
        for sock in (bita, cyrus):
            typing = await sock.next("typing")
            assert typing == {"type": "typing", "chat_id": c.group_id, "user_id": c.ali.user_id}
        await bita.send(type="typing", chat_id=c.direct_id)
        assert await ali.next("typing") == {
            "type": "typing",
            "chat_id": c.direct_id,
            "user_id": c.bita.user_id,
        }
        # Cyrus is not in the direct chat and Ali never hears himself: the next thing each
        # gets is the message that follows.
        await c.send_http(c.bita, c.group_id, "after typing")
        for sock in (ali, cyrus):
            frames = await sock.until(lambda f: f["type"] == "update")
            assert [f["type"] for f in frames] == ["update"]
    for who in (c.ali, c.bita, c.cyrus):
        updates = await c.all_updates(who)
        assert updates[-1]["seq"] == before[who.user_id] + 1
        assert {u["kind"] for u in updates} <= {"chat_new", "message_new"}


async def test_a_new_device_of_an_existing_account_gets_the_whole_history(
    chatters: Chatters,
) -> None:
    """P1.4, P5.1: a second sign-in with the number alone, then resume from 0."""
    c = chatters
    sent = [await c.send_http(c.ali, c.direct_id, f"old {n}") for n in range(3)]
    sent += [await c.send_http(c.bita, c.group_id, f"group {n}") for n in range(3)]
    new_device = await c.harness.sign_in(c.ali.phone, None, device={**DEVICE, "model": "New phone"})
    assert new_device.user_id == c.ali.user_id
    assert new_device.device_id != c.ali.device_id
    async with open_socket(c.server, new_device.token) as sock:
        replayed, last = await sock.resume(0)
    assert seqs(replayed) == list(range(1, last + 1))
    kinds = [u["kind"] for u in replayed]
    assert kinds.count("chat_new") == 2
    messages = [u["message"] for u in replayed if u["kind"] == "message_new"]
    assert [m["id"] for m in messages] == [m["id"] for m in sent]
    assert [m["text"] for m in messages] == [m["text"] for m in sent]


@sqlite_only
async def test_every_device_of_a_user_receives_every_update(chatters: Chatters) -> None:
    c = chatters
    second = await c.harness.sign_in(c.bita.phone, None, device={**DEVICE, "model": "Tablet"})
    async with (
        open_socket(c.server, c.bita.token) as phone,
        open_socket(c.server, second.token) as tablet,
        open_socket(c.server, c.ali.token) as ali,
    ):
        last = await c.last_seq(c.bita)
        await phone.resume(last)
        await tablet.resume(last)
        await ali.resume(await c.last_seq(c.ali))
        await ali.send(type="send", chat_id=c.direct_id, client_id="to-both", text="both?")
        await ali.next("ack")
        await c.send_http(c.cyrus, c.group_id, "and this")
        on_phone = await phone.updates_until(last + 2)
        on_tablet = await tablet.updates_until(last + 2)
    assert on_phone == on_tablet
    assert [u["message"]["text"] for u in on_phone] == ["both?", "and this"]


@sqlite_only
async def test_a_second_resume_on_one_socket_starts_the_replay_again(chatters: Chatters) -> None:
    c = chatters
    for n in range(3):
        await c.send_http(c.bita, c.direct_id, f"r{n}")
    async with open_socket(c.server, c.ali.token) as sock:
        first, last = await sock.resume(0)
        second, again = await sock.resume(2)
        assert again == last
        assert second == first[2:]


@sqlite_only
async def test_ping_is_answered_before_a_resume(chatters: Chatters) -> None:
    async with open_socket(chatters.server, chatters.ali.token) as sock:
        await sock.send(type="ping")
        assert await sock.recv() == {"type": "pong"}


@sqlite_only
async def test_a_send_whose_socket_closed_before_the_ack_is_stored_once(
    chatters: Chatters,
) -> None:
    c = chatters
    frame = {"type": "send", "chat_id": c.direct_id, "client_id": "gone-1", "text": "bye"}
    async with open_socket(c.server, c.ali.token) as sock:
        await sock.send(**frame)
    # The message was handed over before the socket went: it is stored although never acked.
    gateway = c.harness.app.state.gateway
    await eventually(lambda: not gateway.connection_count and not gateway._tasks)
    async with open_socket(c.server, c.ali.token) as sock:
        await sock.send(**frame)
        ack = await sock.next("ack")
    history = await c.harness.http.get(f"/v1/chats/{c.direct_id}/messages", headers=c.ali.headers)
    stored = history.json()["messages"]
    assert [m["client_id"] for m in stored] == ["gone-1"]
    assert ack["message"]["id"] == stored[0]["id"]
    assert ack["created"] is False


@sqlite_only
async def test_a_socket_closed_mid_replay_leaves_no_connection_behind(
    chatters: Chatters,
) -> None:
    c = chatters
    for n in range(30):
        await c.send_http(c.bita, c.direct_id, f"long history {n}")
    gateway = c.harness.app.state.gateway
    async with open_socket(c.server, c.ali.token) as sock:
        await sock.send(type="resume", after=0)
        await sock.recv()
    await eventually(lambda: gateway.connection_count == 0)
    assert not gateway.connections


@sqlite_only
async def test_a_deeply_nested_frame_is_refused_unparsed_and_the_socket_stays_open(
    chatters: Chatters,
) -> None:
    """Issue 9.5: some 1,100 levels made the parser raise RecursionError and killed the socket
    without a close code. Nesting is counted before parsing; brackets inside strings are text."""
    async with open_socket(chatters.server, chatters.ali.token) as sock:
        await sock.resume(0)
        for depth in (33, 1_100, 30_000):
            await sock.ws.send('{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}")
            error = await sock.next("error")
            assert error["error"]["code"] == "invalid_frame", depth
        await sock.ws.send('{"type": "ping", "x": [[["' + "[" * 5000 + '"]]]}')
        assert await sock.next("pong") == {"type": "pong"}
        updates, _ = await sock.resume(0)  # still served
        assert updates


@sqlite_only
async def test_an_oversized_frame_closes_the_socket_with_1009(chatters: Chatters) -> None:
    async with open_socket(chatters.server, chatters.ali.token) as sock:
        await sock.resume(0)
        await sock.ws.send('{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await sock.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, "frame_too_large")
