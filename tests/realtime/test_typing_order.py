"""A "typing" frame must not reach the others after the message it announced.

Passing typing on reads the database (is the sender a member?); the message sent right after
it may be stored and delivered first. A typing frame arriving after the message would then
show "typing…" for seconds to someone who has the message already (the web client clears
"typing" when the message arrives, not after). The gateway drops a typing frame whose check
finishes after the same client sent a message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.realtime.conftest import Chatters, open_socket, sqlite_only


@sqlite_only
async def test_typing_overtaken_by_its_message_is_not_passed_on(
    chatters: Chatters, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chatters
    chats = c.harness.services.chats
    real_check = chats.check_member
    checking, release, checked = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_check(*args: Any, **kwargs: Any) -> Any:
        checking.set()
        await release.wait()  # the database is slow for typing this time
        try:
            return await real_check(*args, **kwargs)
        finally:
            checked.set()

    async with (
        open_socket(c.server, c.ali.token) as ali,
        open_socket(c.server, c.bita.token) as bita,
    ):
        for sock, who in ((ali, c.ali), (bita, c.bita)):
            await sock.resume(await c.last_seq(who))
        monkeypatch.setattr(chats, "check_member", slow_check)
        await ali.send(type="typing", chat_id=c.direct_id)
        await checking.wait()
        await ali.send(type="send", chat_id=c.direct_id, client_id="t-1", text="here it is")
        first = await bita.next("update")
        assert first["message"]["text"] == "here it is"
        release.set()
        await checked.wait()  # the typing frame is passed on now, or never
        monkeypatch.undo()
        # Absence, proved by what comes next: the next message, with no typing before it.
        await c.send_http(c.ali, c.direct_id, "and another")
        frames = await bita.until(lambda f: f["type"] == "update")
        assert [f["type"] for f in frames] == ["update"], frames
        # Typing with no message after it still reaches the other side.
        await ali.send(type="typing", chat_id=c.direct_id)
        assert await bita.next("typing") == {
            "type": "typing",
            "chat_id": c.direct_id,
            "user_id": c.ali.user_id,
        }
