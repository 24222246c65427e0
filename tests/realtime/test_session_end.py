"""Issue 9.2: a session that ends closes its sockets at once (P1.4, P9.1). Signing a device
out (``DELETE /v1/devices/{id}`` or ``DELETE /v1/auth/session``), suspending the account and
erasing it close every socket of that session with 4401 and a reason (docs/realtime.md); the
user's other devices stay connected. Across processes, in ``test_session_end_redis.py``."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from payam.storage import account_state
from tests.api.test_admin import make_admin
from tests.api.test_erasure import fresh_code
from tests.conftest import Account
from tests.realtime.conftest import Chatters, Socket, open_socket, sqlite_only

pytestmark = sqlite_only


async def closed_with(sock: Socket) -> tuple[int, str]:
    """Read until the server closes the socket; no update may arrive before the close."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = await sock.recv()
            assert frame["type"] != "update", frame
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def still_open(chatters: Chatters, sock: Socket, who: Account) -> None:
    """Another of the user's sockets hears the next message."""
    sent = await chatters.send_http(chatters.cyrus, chatters.group_id, "still there?")
    update = await sock.next("update")
    assert update["message"]["id"] == sent["id"], who


async def test_removing_a_device_closes_its_socket_and_only_its(chatters: Chatters) -> None:
    harness = chatters.harness
    ali, phone = chatters.ali, await harness.sign_in(chatters.ali.phone, None)
    async with (
        open_socket(chatters.server, phone.token) as gone,
        open_socket(chatters.server, ali.token) as kept,
    ):
        for sock in (gone, kept):
            await sock.resume(0)
        response = await harness.http.delete(f"/v1/devices/{phone.device_id}", headers=ali.headers)
        assert response.status_code == 204, response.text
        assert await closed_with(gone) == (4401, "session_ended")
        await still_open(chatters, kept, ali)


async def test_signing_out_closes_the_sockets_of_that_session(chatters: Chatters) -> None:
    harness = chatters.harness
    phone = await harness.sign_in(chatters.ali.phone, None)
    async with (
        open_socket(chatters.server, phone.token) as first,
        open_socket(chatters.server, phone.token, in_query=True) as second,
        open_socket(chatters.server, chatters.ali.token) as kept,
    ):
        for sock in (first, second, kept):
            await sock.resume(0)
        response = await harness.http.delete("/v1/auth/session", headers=phone.headers)
        assert response.status_code == 204, response.text
        for sock in (first, second):
            assert await closed_with(sock) == (4401, "session_ended")
        await still_open(chatters, kept, chatters.ali)


async def test_a_send_after_the_sign_out_is_not_stored(chatters: Chatters) -> None:
    harness = chatters.harness
    phone = await harness.sign_in(chatters.ali.phone, None)
    async with open_socket(chatters.server, phone.token) as sock:
        await sock.resume(0)
        response = await harness.http.delete("/v1/auth/session", headers=phone.headers)
        assert response.status_code == 204, response.text
        assert await closed_with(sock) == (4401, "session_ended")
        with pytest.raises(ConnectionClosed):
            await sock.send(type="send", chat_id=chatters.direct_id, client_id="late", text="x")
    history = await harness.http.get(
        f"/v1/chats/{chatters.direct_id}/messages", headers=chatters.ali.headers
    )
    assert [m for m in history.json()["messages"] if m["text"] == "x"] == []


async def test_suspending_an_account_closes_every_socket_of_it(chatters: Chatters) -> None:
    harness = chatters.harness
    admin = await make_admin(harness, "+989120009999")
    phone = await harness.sign_in(chatters.bita.phone, None)
    async with (
        open_socket(chatters.server, chatters.bita.token) as one,
        open_socket(chatters.server, phone.token) as two,
        open_socket(chatters.server, chatters.ali.token) as other_user,
    ):
        for sock in (one, two, other_user):
            await sock.resume(0)
        response = await harness.http.post(
            f"/v1/admin/users/{chatters.bita.user_id}/suspend", headers=admin.headers
        )
        assert response.status_code == 204, response.text
        for sock in (one, two):
            assert await closed_with(sock) == (4401, "account_suspended")
        await still_open(chatters, other_user, chatters.ali)


async def test_erasing_an_account_closes_its_sockets(chatters: Chatters) -> None:
    harness = chatters.harness
    cyrus = chatters.cyrus
    async with open_socket(chatters.server, cyrus.token) as sock:
        await sock.resume(0)
        code = await fresh_code(harness, cyrus)
        response = await harness.http.request(
            "DELETE", "/v1/me", json={"code": code}, headers=cyrus.headers
        )
        assert response.status_code == 200, response.text
        assert await closed_with(sock) == (4401, "session_ended")


async def test_a_session_end_nobody_announced_is_found_by_the_sweep(chatters: Chatters) -> None:
    """A device removed by retention (stale devices) tells no bus, and a session end can be
    lost on the way; the periodic check of open sockets (also run after every bus resync)
    closes them all the same: 4401 with the reason."""
    harness = chatters.harness
    sweeper = harness.app.state.session_sweeper
    async with (
        open_socket(chatters.server, chatters.ali.token) as stale,
        open_socket(chatters.server, chatters.bita.token) as suspended,
        open_socket(chatters.server, chatters.cyrus.token) as fine,
    ):
        for sock in (stale, suspended, fine):
            await sock.resume(0)
        assert await sweeper.sweep() == 0
        harness.clock.advance((harness.settings.stale_device_days + 1) * 86400)
        await harness.http.get("/v1/me", headers=chatters.bita.headers)  # still active
        await harness.http.get("/v1/me", headers=chatters.cyrus.headers)
        assert (await harness.services.maintenance.prune())["stale_devices"] >= 1
        async with harness.services.db.write() as conn:
            await account_state.set_suspended(conn, chatters.bita.user_id, 1.0)
        assert await sweeper.sweep() == 2
        assert await closed_with(stale) == (4401, "session_ended")
        assert await closed_with(suspended) == (4401, "account_suspended")
        await fine.send(type="ping")
        assert await fine.next("pong") == {"type": "pong"}
