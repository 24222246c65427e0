"""``GET /v1/ws`` for the web client: the session cookie authenticates the socket (P6.1), and a
page of another origin cannot use it (no cross-site WebSocket hijacking)."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.api.test_cookies import cookie_sign_in
from tests.conftest import LiveServer
from tests.realtime.conftest import close, sqlite_only

PHONE = "+989120000071"


async def session_cookie(server: LiveServer) -> str:
    client = server.harness.client()
    await cookie_sign_in(server.harness, client, PHONE)
    return f"payam_session={client.cookies['payam_session']}"


async def first_frame_or_close(server: LiveServer, headers: dict[str, str]) -> Any:
    """The ``synced`` frame after a resume, or the close code when the server refuses."""
    ws = await connect(server.ws_url, additional_headers=headers)
    try:
        try:
            await ws.send('{"type": "resume", "after": 0}')
            while True:
                frame = await ws.recv()
                if '"synced"' in str(frame):
                    return "synced"
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
    finally:
        await close(ws)


@sqlite_only
async def test_the_session_cookie_opens_the_socket_from_the_servers_own_page(
    live_server: LiveServer,
) -> None:
    cookie = await session_cookie(live_server)
    own = f"http://127.0.0.1:{live_server.port}"
    assert await first_frame_or_close(live_server, {"Cookie": cookie, "Origin": own}) == "synced"
    # Without an Origin (not a browser) the cookie works as well.
    assert await first_frame_or_close(live_server, {"Cookie": cookie}) == "synced"


@sqlite_only
async def test_a_page_of_another_origin_is_refused_with_4403_even_with_the_cookie(
    live_server: LiveServer,
) -> None:
    cookie = await session_cookie(live_server)
    for origin in ("https://evil.example", f"http://localhost:{live_server.port}", "null"):
        headers = {"Cookie": cookie, "Origin": origin}
        assert await first_frame_or_close(live_server, headers) == 4403, origin


@sqlite_only
async def test_a_configured_origin_may_open_the_socket(make_harness: Any, serve_live: Any) -> None:
    harness = await make_harness(web_origins=("https://chat.example.org",))
    server = await serve_live(harness)
    cookie = await session_cookie(server)
    allowed = {"Cookie": cookie, "Origin": "https://chat.example.org"}
    assert await first_frame_or_close(server, allowed) == "synced"
    other = {"Cookie": cookie, "Origin": "https://other.example.org"}
    assert await first_frame_or_close(server, other) == 4403


@sqlite_only
async def test_a_bad_session_cookie_closes_with_4401(live_server: LiveServer) -> None:
    headers = {"Cookie": "payam_session=forged", "Origin": f"http://127.0.0.1:{live_server.port}"}
    assert await first_frame_or_close(live_server, headers) == 4401


def test_origins_are_read_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from payam.config import Settings  # noqa: PLC0415

    monkeypatch.setenv("PAYAM_WEB_ORIGINS", "https://a.example/, https://b.example")
    assert Settings(data_dir=tmp_path).web_origins == ("https://a.example", "https://b.example")
