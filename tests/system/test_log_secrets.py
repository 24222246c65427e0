"""Black-box (issue 9.6, P9.1): a whole session against the real ``payam serve``, and then not
one secret in its log. Sign-in codes, the bearer token (in a header and in ``/v1/ws?token=``),
a web session's cookie and CSRF value, a number-change code: each is searched for in
everything the process wrote, at the debug level."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.conftest import DEVICE
from tests.realtime.conftest import Socket, close
from tests.system.test_server import free_port, running, server_env, sign_in

pytestmark = pytest.mark.system


async def socket_session(url: str, token: str) -> None:
    ws = await connect(f"{url}/v1/ws?token={token}")
    try:
        sock = Socket(ws)
        await sock.resume(0)
        await sock.send(type="ping")
        assert (await sock.next("pong"))["type"] == "pong"
    finally:
        await close(ws)


def test_no_secret_of_a_whole_session_reaches_the_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir), "--log-level", "debug"]
    secrets: list[str] = []
    with running(tmp_path, data_dir, port, args, server_env()) as server, server.http() as http:
        session = sign_in(server, http, "+989126660001", "Sara")
        secrets += [server.last_code("+989126660001"), session["token"]]
        headers = {"Authorization": f"Bearer {session['token']}"}
        assert http.get("/v1/me", headers=headers).status_code == 200
        ws_url = server.url.replace("http://", "ws://")
        asyncio.run(socket_session(ws_url, session["token"]))
        # A web session: cookies, and a write with the CSRF header.
        assert http.post("/v1/auth/code", json={"phone": "+989126660002"}).status_code == 202
        code = server.last_code("+989126660002")
        body = {"phone": "+989126660002", "code": code, "name": "Web", "device": DEVICE}
        web = http.post("/v1/auth/session", json={**body, "cookie": True})
        assert web.status_code == 201, web.text
        csrf = web.json()["csrf_token"]
        cookie = web.cookies["payam_session"]
        secrets += [code, csrf, cookie]
        assert http.get("/v1/me").status_code == 200  # the cookie jar sends the session
        renamed = http.patch("/v1/me", json={"status": "here"}, headers={"X-CSRF-Token": csrf})
        assert renamed.status_code == 200, renamed.text
        # A number change: its code goes to the new number.
        moved = http.post("/v1/me/phone/code", json={"phone": "+989126660003"}, headers=headers)
        assert moved.status_code == 202, moved.text
        change_code = server.last_code("+989126660003")
        secrets.append(change_code)
        changed = http.post(
            "/v1/me/phone", json={"phone": "+989126660003", "code": change_code}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        signed_out = http.delete("/v1/auth/session", headers=headers)
        assert signed_out.status_code == 204
    log = server.log()
    assert "/v1/ws" in log  # the socket was logged, without its token
    for secret in secrets:
        assert not re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", log), (secret, log)
