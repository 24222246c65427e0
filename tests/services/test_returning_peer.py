"""Issue 9, defect 9, below the HTTP door: a message brings a deleted direct chat back to the
other side, but the other side cannot come back by writing in the same batch themself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from payam.domain.errors import NotFound
from payam.services.messages import MessageService
from tests.api.message_helpers import direct_chat, people
from tests.conftest import Harness
from tests.services.test_messages import caller


@pytest.fixture
async def fresh_writer(harness: Harness) -> AsyncIterator[MessageService]:
    """Not started: its first send starts it after every send queued with it (one batch)."""
    s = harness.services
    writer = MessageService(s.db, s.settings, s.clock, s.updates, s.purge, files=s.media.files)
    yield writer
    await writer.stop()


async def test_the_one_who_left_cannot_write_in_the_batch_that_brings_them_back(
    harness: Harness, fresh_writer: MessageService
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    assert (await harness.http.delete(f"/v1/chats/{chat}", headers=bita.headers)).status_code == 204
    brought, sneaked = await asyncio.gather(
        fresh_writer.send(caller(ali), chat, client_id="a1", text="come back"),
        fresh_writer.send(caller(bita), chat, client_id="b1", text="sneaking in"),
        return_exceptions=True,
    )
    assert not isinstance(brought, BaseException) and brought.created
    assert isinstance(sneaked, NotFound)
    history = await harness.http.get(f"/v1/chats/{chat}/messages", headers=bita.headers)
    assert [m["text"] for m in history.json()["messages"]] == ["come back"]
