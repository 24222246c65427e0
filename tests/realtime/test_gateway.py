"""The gateway's delivery rules, with a fake socket and an in-memory updates log: the state
machine, gaps filled from the log, resync after lost wake-ups, resume during a replay, the
bounded buffer and what a client that falls behind is told."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from payam.domain.events import Update
from payam.domain.models import Caller
from payam.realtime.gateway import Connection, Gateway, IllegalTransition, State
from payam.services.updates import UpdatePage
from tests.realtime.conftest import eventually

USER = 7
TIMEOUT = 5.0


class FakeLog:
    """The updates log of one user, as ``UpdateLog.fetch`` pages it."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.oldest_kept = 1
        self.fetches = 0
        self.gate: asyncio.Event | None = None  # when set, fetch waits for it

    def add(self, n: int = 1) -> list[Update]:
        new = []
        for _ in range(n):
            seq = len(self.updates) + 1
            new.append(Update(USER, seq, "message_new", 1, seq, None, 0.0, {"id": seq}))
            self.updates.append(new[-1])
        return new

    async def fetch(self, user_id: int, after: int, limit: int) -> UpdatePage:
        assert user_id == USER
        self.fetches += 1
        kept = [u for u in self.updates if u.seq >= self.oldest_kept]
        rows = [u for u in kept if u.seq > after]
        too_old = after > 0 and after + 1 < self.oldest_kept
        last = len(self.updates)
        if self.gate is not None:  # the read was taken; commits from now on are not in it
            await self.gate.wait()
        return UpdatePage(rows[:limit], last, len(rows) > limit, too_old)


class FakeSocket:
    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.arrived = asyncio.Event()
        self.blocked: asyncio.Event | None = None  # when set, sends wait for it

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        if self.blocked is not None:
            await self.blocked.wait()
        self.sent.append(json.loads(text))
        self.arrived.set()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = code
        self.arrived.set()
        await self.incoming.put({"type": "websocket.disconnect", "code": code})

    def frame(self, **body: Any) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(body)})

    async def wait_for(self, check: Any) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                self.arrived.clear()
                await self.arrived.wait()

    def update_seqs(self) -> list[int]:
        return [f["seq"] for f in self.sent if f["type"] == "update"]

    def types(self) -> list[str]:
        return [f["type"] for f in self.sent]


class Served:
    def __init__(self, gateway: Gateway, log: FakeLog, socket: FakeSocket) -> None:
        self.gateway = gateway
        self.log = log
        self.socket = socket

    @property
    def connection(self) -> Connection:
        (connection,) = self.gateway.connections[USER]
        return connection

    def publish(self, updates: list[Update]) -> None:
        self.gateway.on_updates(updates)

    async def synced(self, after: int = 0) -> None:
        self.socket.frame(type="resume", after=after)
        await self.socket.wait_for(lambda: "synced" in self.socket.types())


class NoChannels:
    """The chat service as the gateway asks it when a socket opens: no channels."""

    async def channel_subscriptions(self, caller: Caller) -> tuple[list[int], int]:
        return [], 0


def make_gateway(log: FakeLog, buffer_limit: int = 100) -> Gateway:
    none: Any = None
    chats: Any = NoChannels()
    return Gateway(log, none, chats, none, buffer_limit=buffer_limit)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    log = FakeLog()
    gateway = make_gateway(log, buffer_limit=5)
    socket = FakeSocket()
    task = asyncio.create_task(gateway.serve(socket, Caller(USER, 1)))
    await eventually(lambda: gateway.connections)
    yield Served(gateway, log, socket)
    await socket.incoming.put({"type": "websocket.disconnect", "code": 1000})
    async with asyncio.timeout(TIMEOUT):
        await task
    assert not gateway.connections


def test_the_state_machine_refuses_illegal_transitions() -> None:
    connection = Connection(make_gateway(FakeLog()), None, Caller(USER, 1))
    assert connection.state is State.CONNECTED
    with pytest.raises(IllegalTransition):
        connection.move(State.LIVE)  # live before any replay
    connection.move(State.SYNCING)
    connection.move(State.SYNCING)  # a second resume during a replay
    connection.move(State.LIVE)
    connection.move(State.SYNCING)
    connection.move(State.CLOSED)
    for state in (State.CONNECTED, State.SYNCING, State.LIVE):
        with pytest.raises(IllegalTransition):
            connection.move(state)


def test_the_buffer_never_holds_more_than_its_limit() -> None:
    log = FakeLog()
    connection = Connection(make_gateway(log, buffer_limit=3), None, Caller(USER, 1))
    connection.offer(log.add()[0])
    assert not connection.buffer  # nothing is buffered before a resume: the replay reads the log
    connection.move(State.SYNCING)
    connection.offer(log.add()[0])
    assert not connection.buffer  # nor during a replay: it reads the log to its end
    assert connection.seen == 2
    connection.move(State.LIVE)
    for update in log.add(3):
        connection.offer(update)
        assert len(connection.buffer) <= 3
    assert not connection.lagging
    connection.offer(log.add()[0])
    assert connection.lagging
    assert not connection.buffer  # what it missed stays in the log, not in memory
    for update in log.add(50):
        connection.offer(update)
        connection.say({"type": "pong"})
    assert not connection.buffer
    assert not connection.outbox


async def test_live_updates_follow_the_replay_without_gap_or_duplicate(served: Served) -> None:
    served.log.add(3)
    await served.synced(0)
    assert served.socket.types() == ["update"] * 3 + ["synced"]
    assert served.socket.sent[-1]["last_seq"] == 3
    new = served.log.add(2)
    served.publish(new)
    served.publish(new)  # delivered twice by the bus: sent once
    await served.socket.wait_for(lambda: served.socket.update_seqs()[-1:] == [5])
    assert served.socket.update_seqs() == [1, 2, 3, 4, 5]


async def test_a_lost_wake_up_is_filled_from_the_log_at_the_next_update(served: Served) -> None:
    await served.synced(0)
    served.log.add(2)  # committed, but the bus lost their wake-ups
    served.publish(served.log.add())
    await served.socket.wait_for(lambda: served.socket.update_seqs()[-1:] == [3])
    assert served.socket.update_seqs() == [1, 2, 3]


async def test_updates_arriving_out_of_order_are_sent_in_order(served: Served) -> None:
    await served.synced(0)
    new = served.log.add(3)
    served.publish([new[2]])
    served.publish([new[0]])
    served.publish([new[1]])
    await served.socket.wait_for(lambda: served.socket.update_seqs()[-1:] == [3])
    assert served.socket.update_seqs() == [1, 2, 3]


async def test_a_resync_re_reads_the_log(served: Served) -> None:
    await served.synced(0)
    served.log.add(2)  # no wake-up at all, and no later update either
    served.gateway.on_resync()
    await served.socket.wait_for(lambda: served.socket.update_seqs()[-1:] == [2])
    assert served.socket.update_seqs() == [1, 2]


async def test_an_update_committed_during_the_replay_is_not_lost(served: Served) -> None:
    served.log.add(2)
    served.log.gate = asyncio.Event()
    served.socket.frame(type="resume", after=0)
    await eventually(lambda: served.log.fetches)
    # The replay's read was taken; this commit is not in it.
    late = served.log.add()
    served.publish(late)
    served.log.gate.set()
    await served.socket.wait_for(lambda: served.socket.update_seqs()[-1:] == [3])
    assert served.socket.update_seqs() == [1, 2, 3]


async def test_a_resume_during_a_replay_starts_it_again(served: Served) -> None:
    served.log.add(4)
    served.socket.blocked = asyncio.Event()
    served.socket.frame(type="resume", after=0)
    await eventually(lambda: served.connection.state is State.SYNCING)
    served.socket.frame(type="resume", after=2)
    await eventually(lambda: served.connection.resume_from is not None)
    served.socket.blocked.set()
    await served.socket.wait_for(lambda: "synced" in served.socket.types())
    # The first replay stopped after the frame under way; the second starts after 2.
    assert served.socket.update_seqs() == [1, 3, 4]
    assert served.socket.types().count("synced") == 1


async def test_a_client_too_far_behind_is_told_to_resume_and_closed(served: Served) -> None:
    await served.synced(0)
    served.socket.blocked = asyncio.Event()  # the client stops reading
    first = served.log.add()
    served.publish(first)
    # The writer took it and is stuck sending it.
    await eventually(lambda: not served.connection.buffer)
    for update in served.log.add(20):
        served.publish([update])
        assert len(served.connection.buffer) <= 5
    assert served.connection.lagging
    served.socket.blocked.set()
    await served.socket.wait_for(lambda: served.socket.closed is not None)
    assert served.socket.closed == 4008
    assert served.socket.sent[-1] == {"type": "resume_required", "after": 1}
    assert served.socket.update_seqs() == [1]


async def test_too_old_a_resume_is_told_to_resync(served: Served) -> None:
    served.log.add(10)
    served.log.oldest_kept = 6  # pruned by retention
    await served.synced(2)
    required = served.socket.sent[0]
    assert required["type"] == "resync_required"
    assert required["after"] == 2
    assert served.socket.sent[-1] == {"type": "synced", "last_seq": 10}
    assert served.socket.update_seqs() == []


async def test_acks_are_not_held_back_by_a_long_replay(served: Served) -> None:
    served.log.add(30)
    served.socket.blocked = asyncio.Event()
    served.socket.frame(type="resume", after=0)
    await eventually(lambda: served.connection.state is State.SYNCING)
    served.socket.frame(type="ping")
    await eventually(lambda: served.connection.outbox)
    served.socket.blocked.set()
    await served.socket.wait_for(lambda: "synced" in served.socket.types())
    assert served.socket.types().index("pong") < 3


async def test_a_failing_log_closes_the_socket_with_1011(served: Served) -> None:
    async def broken(user_id: int, after: int, limit: int) -> UpdatePage:
        raise RuntimeError("database is down")

    served.log.fetch = broken
    served.socket.frame(type="resume", after=0)
    await served.socket.wait_for(lambda: served.socket.closed is not None)
    assert served.socket.closed == 1011


async def test_a_resume_past_the_end_of_the_log_is_told_to_resync_with_the_true_seq(
    served: Served,
) -> None:
    """Issue 9.4: a client restored from a backup resumes after 5000 when the log is at 21."""
    served.log.add(21)
    await served.synced(5000)
    assert served.socket.sent[0] == {
        "type": "resync_required",
        "after": 5000,
        "last_seq": 21,
        "reason": served.socket.sent[0]["reason"],
    }
    assert served.socket.sent[-1] == {"type": "synced", "last_seq": 21}
    served.publish(served.log.add())  # and the next update is delivered, not swallowed
    await served.socket.wait_for(lambda: served.socket.update_seqs() == [22])


class KeepaliveClosedSocket(FakeSocket):
    """As uvicorn behaves once its keepalive ping timed out: it has sent the close frame, and
    the app hears nothing of it until the transport is gone, but every send is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.timed_out = False

    async def send_text(self, text: str) -> None:
        if self.timed_out:
            raise RuntimeError(
                "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."
            )
        await super().send_text(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.timed_out:
            raise RuntimeError(
                "Unexpected ASGI message 'websocket.close', after sending 'websocket.close'."
            )
        await super().close(code, reason)


async def test_a_socket_closed_by_the_keepalive_is_an_ordinary_end_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 9.14: no "WebSocket writer failed" (an ERROR with a traceback) for a client that
    went away; the connection is let go as for any disconnect."""
    log = FakeLog()
    gateway = make_gateway(log)
    socket = KeepaliveClosedSocket()
    task = asyncio.create_task(gateway.serve(socket, Caller(USER, 1)))
    await eventually(lambda: gateway.connections)
    await Served(gateway, log, socket).synced(0)
    socket.timed_out = True
    served = Served(gateway, log, socket)
    served.publish(log.add())  # the writer's next send meets the closed socket
    async with asyncio.timeout(TIMEOUT):
        await task  # the reader stopped waiting: the connection is gone
    assert not gateway.connections
    assert socket.closed is None  # no second close tried on a closed socket
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


class RecordingMessages:
    def __init__(self) -> None:
        self.sends: list[dict[str, Any]] = []

    async def send(self, caller: Caller, chat_id: int, **fields: Any) -> Any:
        self.sends.append({"chat_id": chat_id, **fields})
        raise AssertionError("a send after the session ended reached the message service")


async def test_an_ended_session_closes_with_4401_and_reads_no_more_frames() -> None:
    """Issue 9.2: from the moment the session ends, nothing the socket sends is acted on and
    nothing more is delivered; the writer closes it with 4401 and the reason."""
    log = FakeLog()
    gateway = make_gateway(log)
    messages = RecordingMessages()
    gateway.messages = messages  # type: ignore[assignment]
    socket = FakeSocket()
    other = FakeSocket()
    task = asyncio.create_task(gateway.serve(socket, Caller(USER, 1)))
    kept = asyncio.create_task(gateway.serve(other, Caller(USER, 2)))
    await eventually(lambda: len(gateway.connections.get(USER, ())) == 2)
    for sock in (socket, other):
        await Served(gateway, log, sock).synced(0)
    gateway.on_session_end(USER, 1, "session_ended")
    socket.frame(type="send", chat_id=1, client_id="late", text="after the end")
    gateway.on_updates(log.add())
    async with asyncio.timeout(TIMEOUT):
        await task
    assert socket.closed == 4401
    assert socket.types() == ["synced"]  # not the update that followed the end
    assert messages.sends == []
    # The user's other device is untouched.
    await other.wait_for(lambda: other.update_seqs() == [1])
    gateway.on_session_end(USER, None, "account_suspended")  # every device of the user
    async with asyncio.timeout(TIMEOUT):
        await kept
    assert other.closed == 4401
    assert not gateway.connections
