"""Black-box: with ``payam serve --workers 2`` on PostgreSQL and Redis, SIGKILL one worker
while HTTP and WebSocket clients send through both (issue #12).

The clients of the killed worker lose their connections; those of the other carry on. Then
every send never acknowledged is retried with its ``client_id`` (through whichever worker,
the killed one having been replaced), and each chat's history holds every message tried,
exactly once, each acknowledged one as its ack said: acknowledged means committed, whichever
process acknowledged it.

Needs PostgreSQL (``PAYAM_REQUIRE_POSTGRES=1``) and Redis (``PAYAM_REQUIRE_REDIS=1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.system.test_no_message_lost import (
    PHASE_TIMEOUT,
    USERS,
    Ledger,
    history,
    http_sender,
    set_up_chats,
    ws_sender,
)
from tests.system.test_server import free_port, running, server_env
from tests.system.test_two_processes import shared_backends
from tests.system.test_workers import workers_of

pytestmark = pytest.mark.system
__all__ = ["shared_backends"]  # the fixture, used by name

MORE_AFTER_KILL = 50  # acknowledged by the surviving worker before the senders stop


async def test_every_acknowledged_message_survives_a_sigkill_of_one_worker(
    tmp_path: Path, shared_backends: tuple[str, str]
) -> None:
    schema, channel = shared_backends
    data_dir = tmp_path / "data"
    port = free_port()
    args = ["--workers", "2", "--port", str(port), "--data-dir", str(data_dir)]
    env = server_env(
        PAYAM_RATE_LIMITS="off",
        PAYAM_DATABASE_URL=POSTGRES_URL,
        PAYAM_DATABASE_SCHEMA=schema,
        PAYAM_EVENT_BUS="redis",
        PAYAM_REDIS_URL=REDIS_URL,
        PAYAM_REDIS_CHANNEL=channel,
    )
    ledger = Ledger()

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as http:
        tokens, auth, members, chats_of = set_up_chats(server, http, "+98912556000")
        workers = workers_of(server.process.pid)
        assert len(workers) == 2, workers

        senders = [
            asyncio.create_task(sender(server, tokens[u], u, chats_of[u], ledger))
            for u in range(USERS)
            for sender in (http_sender, ws_sender)
        ]
        async with asyncio.timeout(PHASE_TIMEOUT):
            await ledger.enough.wait()
        os.kill(workers[0], signal.SIGKILL)
        acked_at_kill = len(ledger.acked)
        async with asyncio.timeout(PHASE_TIMEOUT):
            # The other worker carries on (a sender whose connection died has returned).
            # Polling what the senders counted: a bounded wait, no event for "N more".
            wanted = acked_at_kill + MORE_AFTER_KILL
            while len(ledger.acked) < wanted and not all(s.done() for s in senders):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for task in senders:
            task.cancel()  # a send cut here is "tried, not acknowledged": retried below
        for task in senders:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert len(ledger.acked) >= acked_at_kill + MORE_AFTER_KILL, "one worker did not go on"

        acked_before = dict(ledger.acked)
        unacked = [s for cid, s in ledger.tried.items() if cid not in acked_before]
        assert unacked, "the kill came when nothing was in flight"

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for send in unacked:
                response = await client.post(
                    f"/v1/chats/{send.chat_id}/messages",
                    json={"client_id": send.client_id, "text": send.text},
                    headers=auth[send.sender],
                )
                assert response.status_code == 201, response.text
                ledger.ack(send, response.json())
            stored: dict[str, dict[str, Any]] = {}
            for chat_id, who in members.items():
                messages = await history(client, tokens[min(who)], chat_id)
                assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
                client_ids = [m["client_id"] for m in messages]
                assert len(client_ids) == len(set(client_ids)), "a message is stored twice"
                stored.update((m["client_id"], m) for m in messages)
                tried_here = {c for c, s in ledger.tried.items() if s.chat_id == chat_id}
                assert set(client_ids) == tried_here
        # The supervisor replaces the killed worker (it checks twice a second).
        async with asyncio.timeout(PHASE_TIMEOUT):
            while workers[0] in workers_of(server.process.pid):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert len(workers_of(server.process.pid)) == 2

    for client_id, message in acked_before.items():
        assert stored[client_id] == message, "an acknowledged message changed or was lost"
    assert set(stored) == set(ledger.tried) == set(ledger.acked)
