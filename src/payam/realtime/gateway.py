"""The WebSocket gateway (``GET /v1/ws``): live updates with no gap and no duplicate.

Each connection is in one of these states, and an illegal transition is an error:

    CONNECTED --resume--> SYNCING --replayed--> LIVE --resume--> SYNCING ...
        any --too far behind, or gone--> CLOSED

A connection remembers the last seq it delivered. One writer task per connection is the only
one that writes to the socket; it sends, in order of urgency: acks and errors (the outbox), a
replay the client asked for with ``resume`` (read from the updates log, page by page, then
``synced``), and live updates from a bounded buffer. Whenever the next live update is not
``delivered + 1`` (a missed wake-up, another process's update) the writer reads the gap from
the log, which is the source of truth; a bus that may have lost wake-ups (``on_resync``) makes
every connection re-read the log. While a replay runs, live updates are not buffered at all:
the replay reads the log to its end, and the highest seq offered meanwhile says whether to read
once more.

Memory per connection is bounded: at most ``buffer_limit`` live updates and as many outgoing
acks and errors wait, and at most ``max_in_flight`` sends from one socket are being stored at
once (beyond that the gateway stops reading the socket, so a fast sender is slowed by TCP, not
by the server's memory). A client that falls further behind than the buffer is told
``{"type": "resume_required", "after": N}`` and the socket closes with 4008; its next
``resume`` replays from the log.

Channels fan out on read: a post writes no update for anyone, so it is not in the seq stream.
The bus hands the gateway one ``channel {chat_id, kind, message}`` frame per post, edit or
deletion; it is encoded once and the same text is queued on the outbox of every connection of
a subscriber (``realtime/channels.py`` keeps that index). A client that sees a gap in a
channel's ``seq`` reads the channel's history.

A session that ends (sign-out, a device removed, suspension, erasure), in this process or
another (``on_session_end``, from the bus), closes its sockets with 4401 and a reason; a frame
longer than ``WS_FRAME_MAX_CHARS`` closes its socket with 1009 unread, and one nested deeper
than ``WS_FRAME_MAX_DEPTH`` is refused unparsed.

Client -> server frames: ``resume {after}``, ``send {chat_id, client_id, text, ...}``,
``typing {chat_id}``, ``ping``, and the ``call.*`` frames of docs/calls.md (handed to
``realtime/calls.py``). Server -> client: ``update {seq, kind, ...}``, ``ack
{client_id, message, created}``, ``error {client_id?, error}``, ``typing {chat_id, user_id}``,
``channel {chat_id, kind, message}``, ``synced {last_seq}``, ``resume_required {after}``,
``resync_required {after}``, ``pong``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections import defaultdict, deque
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pydantic_core
from starlette.websockets import WebSocket, WebSocketDisconnect

from payam.adapters.bus import EventBus
from payam.domain import events
from payam.domain.errors import InvalidInput, PayamError
from payam.domain.events import Update, iso
from payam.domain.json_depth import nests_deeper_than
from payam.domain.limits import WS_FRAME_MAX_CHARS, WS_FRAME_MAX_DEPTH
from payam.domain.models import Caller
from payam.realtime.calls import CallRelay
from payam.realtime.channels import ChannelIndex
from payam.realtime.collector import CollectorPolicy
from payam.services.chats import ChatService
from payam.services.messages import MessageService
from payam.services.updates import UpdateLog

log = logging.getLogger(__name__)

T = TypeVar("T")

# Close codes (public contract, docs/realtime.md). 4401's reason says why: missing_token,
# invalid_token, account_suspended (at connect), session_ended, account_suspended (later).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_FAR_BEHIND = 4008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_FRAME_TOO_LARGE = 1009

# Seconds the writer has to send the close frame of an ended session.
CLOSE_GRACE = 5.0
# Sends from one socket being stored at once; the group commit batches up to 256 anyway.
MAX_SENDS_IN_FLIGHT = 256
# Updates read from the log per query while replaying.
REPLAY_PAGE = 500
# Writers woken per turn of the event loop after a channel frame was queued.
WAKE_SLICE = 256
# The user's own updates that change which channels' frames their sockets hear.
_MEMBERSHIP = frozenset({events.CHAT_NEW, events.CHAT_REMOVED})


class State(enum.Enum):
    CONNECTED = "connected"
    SYNCING = "syncing"
    LIVE = "live"
    CLOSED = "closed"


_ALLOWED = {
    State.CONNECTED: {State.SYNCING, State.CLOSED},
    State.SYNCING: {State.LIVE, State.SYNCING, State.CLOSED},
    State.LIVE: {State.SYNCING, State.CLOSED},
    State.CLOSED: {State.CLOSED},
}


class IllegalTransition(RuntimeError):
    pass


class SocketGone(Exception):
    """The socket closed under the writer: an ordinary end, not a server error."""


def _dumps(body: dict[str, Any]) -> str:
    """Compact JSON, text as it is (no \\u escapes): what ``json.dumps`` with
    ``ensure_ascii=False`` gives, by pydantic-core's encoder, a quarter of its cost on a
    frame carrying a message (2.3 against 9 us)."""
    return pydantic_core.to_json(body).decode()


# Messages whose JSON was encoded lately, by id() (their dicts held, so an id is not reused).
_ENCODED_KEPT = 64


def _error(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"code": code, "message": message}}
    if client_id is not None:
        body["client_id"] = client_id
    return body


class Connection:
    """One socket's delivery state. Every method except the writer's is synchronous, so the
    bus can call ``offer`` for thousands of connections without yielding."""

    def __init__(self, gateway: Gateway, websocket: WebSocket, caller: Caller) -> None:
        self.gateway = gateway
        self.websocket = websocket
        self.caller = caller
        self.state = State.CONNECTED
        self.delivered = 0  # the last seq sent to this socket
        self.buffer: deque[Update] = deque()  # live updates waiting (LIVE only)
        self.outbox: deque[str] = deque()  # acks, errors, typing, pong: not in the seq stream
        # Frames read from the client, and the number of the last ``send`` among them: a
        # typing frame whose check finishes after a later send is not passed on (``_typing``).
        self.frames_read = 0
        self.last_send_frame = 0
        self.wake = asyncio.Event()
        self.lagging = False  # fell too far behind: tell it to resume, then close
        self.resume_from: int | None = None  # a resume the writer has not started yet
        self.seen = 0  # the highest seq offered while a replay ran
        self.recheck = False  # wake-ups may have been lost: read the log again
        self.sends: set[asyncio.Task[None]] = set()
        self.send_done = asyncio.Event()
        self.ending: tuple[int, str] | None = None  # the session ended: close with this

    def move(self, new: State) -> None:
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state.value} -> {new.value}")
        self.state = new

    # -- called by the bus and the reader (synchronous, cheap) ----------------------------------

    def offer(self, update: Update) -> None:
        """A committed update of this user (in any order, perhaps twice, perhaps not at all)."""
        if self.state is State.CLOSED or self.lagging or update.seq <= self.delivered:
            return
        if self.state is not State.LIVE or self.resume_from is not None:
            # A replay reads the log to its end; remember how far it must reach.
            self.seen = max(self.seen, update.seq)
            return
        if len(self.buffer) >= self.gateway.buffer_limit:
            self.lagging = True
            self.buffer.clear()
        else:
            self.buffer.append(update)
        self.wake.set()

    def say(self, body: dict[str, Any]) -> None:
        """Queue a frame outside the seq stream (ack, error, typing, pong)."""
        self.say_encoded(_dumps(body))

    def say_encoded(self, text: str, *, wake: bool = True) -> bool:
        """``say`` for a frame already encoded: a channel frame is encoded once for all. With
        ``wake=False`` the caller wakes the writer later; whether the frame was queued."""
        if self.state is State.CLOSED or self.lagging:
            return False
        if len(self.outbox) >= self.gateway.buffer_limit:
            self.lagging = True
            self.outbox.clear()
            self.wake.set()  # to say resume_required and close
            return False
        self.outbox.append(text)
        if wake:
            self.wake.set()
        return True

    def resume(self, after: int) -> None:
        """The client has everything up to ``after``: replay the rest, then stream live."""
        self.resume_from = after
        self.buffer.clear()
        self.wake.set()

    def resync(self) -> None:
        self.recheck = True
        self.wake.set()

    def close(self) -> None:
        self.move(State.CLOSED)
        self.buffer.clear()
        self.outbox.clear()
        self.wake.set()

    def end(self, code: int, reason: str) -> None:
        """This socket is done: its session ended (P1.4, P9.1), or it sent an oversized frame.
        From now on nothing it sends is acted on and nothing more is sent to it; the writer
        closes it with ``code`` and ``reason``."""
        if self.state is not State.CLOSED:
            self.ending = (code, reason)
            self.close()

    # -- the writer task ------------------------------------------------------------------------

    async def writer(self) -> None:
        """The only task that writes to the socket."""
        try:
            while self.state is not State.CLOSED:
                await self.wake.wait()
                self.wake.clear()
                while await self._step():
                    pass
            if self.ending is not None:
                await self._close(*self.ending)
        except (SocketGone, WebSocketDisconnect):
            # An ordinary end (the peer left, or the server's keepalive gave up on it): the
            # reader hears of it too, or stops waiting because this task ended.
            if self.state is not State.CLOSED:
                self.close()
        except Exception:
            log.exception("WebSocket writer failed (user %d)", self.caller.user_id)
            await self._close(CLOSE_INTERNAL_ERROR, "internal error; reconnect and resume")

    async def _send(self, text: str) -> None:
        if self.state is State.CLOSED:
            return  # closed meanwhile (an ended session): not one more frame
        try:
            await self.websocket.send_text(text)
        except RuntimeError as exc:
            # Sending on a socket that is already closing is refused with a RuntimeError, not a
            # disconnect: by Starlette once a close was sent (``WebSocketDisconnected``), and by
            # uvicorn ("Unexpected ASGI message 'websocket.send', after sending
            # 'websocket.close'") when its keepalive timed out before the app heard of it. A
            # ``websocket.send`` on a connected socket has no other way to be a RuntimeError.
            raise SocketGone(str(exc)) from exc

    async def _close(self, code: int, reason: str) -> None:
        if self.state is not State.CLOSED:
            self.close()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # already closed
            await self.websocket.close(code=code, reason=reason)

    async def _step(self) -> bool:
        """Do the most urgent piece of work; False when nothing is left to do."""
        if self.state is State.CLOSED:
            return False
        if self.lagging:
            await self._send(_dumps({"type": "resume_required", "after": self.delivered}))
            await self._close(CLOSE_TOO_FAR_BEHIND, "too far behind; reconnect and resume")
            return False
        if self.outbox:
            await self._send(self.outbox.popleft())
        elif self.resume_from is not None:
            self._start_replay(self.resume_from)
        elif self.state is State.SYNCING:
            await self._finish_replay()
        elif self.state is State.LIVE and self.recheck:
            await self._replay()
        elif self.state is State.LIVE and self.buffer:
            await self._deliver_next()
        else:
            return False
        return True

    def _start_replay(self, after: int) -> None:
        self.delivered = after
        self.resume_from = None
        self.seen = 0
        self.buffer.clear()
        self.move(State.SYNCING)

    async def _finish_replay(self) -> None:
        if await self._replay() and self.state is State.SYNCING:
            self.move(State.LIVE)
            await self._send(_dumps({"type": "synced", "last_seq": self.delivered}))
            # Offered during the replay but past what it read: read once more.
            self.recheck = self.recheck or self.seen > self.delivered

    async def _deliver_next(self) -> None:
        update = self.buffer[0]
        if update.seq <= self.delivered:
            self.buffer.popleft()
            return
        if update.seq != self.delivered + 1:
            before = self.delivered
            if not await self._replay():  # a gap: the log fills it
                return
            if self.delivered != before or not self.buffer or self.buffer[0] is not update:
                return
            # The log does not show the gap (it cannot, when updates are published only after
            # their commit). Deliver rather than stall this connection for ever.
            log.warning(
                "user %d: update %d offered but the log ends at %d",
                self.caller.user_id,
                update.seq,
                self.delivered,
            )
        self.buffer.popleft()
        await self._send(self.gateway.update_text(update))
        self.delivered = max(self.delivered, update.seq)

    async def _replay(self) -> bool:
        """Send what the log holds after ``delivered``, page by page, acks first.

        False when interrupted by a new ``resume`` or by falling behind."""
        self.recheck = False
        updates = self.gateway.updates
        while True:
            page = await updates.fetch(self.caller.user_id, self.delivered, REPLAY_PAGE)
            if page.too_old:
                await self._resync_required(page.last_seq, _TOO_OLD)
                self.delivered = max(self.delivered, page.last_seq)
                return True
            if self.state is State.SYNCING and page.last_seq < self.delivered:
                # Resumed after a seq this user never reached (a client restored from a
                # backup): counting on from there would skip every update until the log caught
                # up. Say where the log really is and go on from there.
                await self._resync_required(page.last_seq, _AHEAD)
                self.delivered = page.last_seq
                return True
            for update in page.updates:
                while self.outbox and not self.lagging:
                    await self._send(self.outbox.popleft())
                if self.resume_from is not None or self.lagging or self.state is State.CLOSED:
                    return False
                if update.seq <= self.delivered:
                    continue
                # A join or leave whose live wake-up was lost still updates the channel index.
                self.gateway.channel_index.follow(self, update)
                await self._send(self.gateway.update_text(update))
                self.delivered = update.seq
            if not page.has_more:
                return True

    async def _resync_required(self, last_seq: int, reason: str) -> None:
        frame = {"type": "resync_required", "after": self.delivered, "last_seq": last_seq}
        await self._send(_dumps({**frame, "reason": reason}))


_TOO_OLD = "updates this old are no longer kept; reload the chat list"
_AHEAD = "the log ends before this seq (restored from a backup?); reload the chat list"


class Gateway:
    def __init__(
        self,
        updates: UpdateLog,
        messages: MessageService,
        chats: ChatService,
        bus: EventBus,
        *,
        buffer_limit: int = 2000,
        max_in_flight: int = MAX_SENDS_IN_FLIGHT,
        calls: CallRelay | None = None,
        collector: CollectorPolicy | None = None,
    ) -> None:
        # call.* frames and socket closes go to the call relay (realtime/calls.py).
        self.calls = calls
        self.collector = collector
        self.open_count = 0
        self.updates = updates
        self.messages = messages
        self.chats = chats
        self.bus = bus
        self.buffer_limit = max(1, buffer_limit)
        self.max_in_flight = max(1, max_in_flight)
        self.connections: dict[int, set[Connection]] = defaultdict(set)
        self.channel_index: ChannelIndex[Connection] = ChannelIndex()
        self._tasks: set[asyncio.Task[None]] = set()
        # Connections with a channel frame queued whose writers are still to be woken.
        self._to_wake: deque[Connection] = deque()
        self._waker: asyncio.Task[None] | None = None
        self._encoded: dict[int, tuple[dict[str, Any], str]] = {}
        self._at: tuple[float | None, str] = (None, "null")  # the last update time, as JSON

    def update_text(self, update: Update) -> str:
        """The ``update`` frame of ``update``. A group message reaches every member with the
        same message dict: its JSON is encoded once and spliced into each member's frame
        (seq and time are each member's own); building the rest per member costs a few
        microseconds (docs/benchmarks.md)."""
        message = update.message
        if message is None or update.payload:
            return _dumps({"type": "update", **update.to_json()})
        key = id(message)
        kept = self._encoded.get(key)
        if kept is None or kept[0] is not message:
            if len(self._encoded) >= _ENCODED_KEPT:
                self._encoded.pop(next(iter(self._encoded)))
            kept = self._encoded[key] = (message, _dumps(message))
        if update.created_at != self._at[0]:
            self._at = (update.created_at, json.dumps(iso(update.created_at)))
        chat = "null" if update.chat_id is None else int(update.chat_id)
        # Kinds are the constants of domain/events.py: plain ASCII words, nothing to escape.
        return (
            f'{{"type":"update","seq":{int(update.seq)},"kind":"{update.kind}",'
            f'"chat_id":{chat},"at":{self._at[1]},"message":{kept[1]}}}'
        )

    # Bus handlers: synchronous and cheap, they only append to buffers.
    def on_updates(self, updates: Sequence[Update]) -> None:
        connections = self.connections
        index = self.channel_index
        for update in updates:
            for connection in connections.get(update.user_id, ()):
                connection.offer(update)
                if update.kind in _MEMBERSHIP:
                    index.follow(connection, update)

    def on_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        """A channel's post, edit or deletion: one encoding, queued on each subscriber's
        connection at once (no await, no copy per socket). Their writers are woken a slice at
        a time (``WAKE_SLICE``), the loop running whatever else is ready between slices: woken
        all at once, 5,000 writers ran before the poster's own answer was written
        (docs/benchmarks.md)."""
        listeners = self.channel_index.listeners(chat_id)
        if not listeners:
            return
        text = _dumps(event)
        to_wake = self._to_wake
        for connection in listeners:
            if connection.say_encoded(text, wake=False):
                to_wake.append(connection)
        if to_wake and self._waker is None:
            self._waker = asyncio.get_running_loop().create_task(
                self._wake_in_slices(), name="ws-channel-waker"
            )

    async def _wake_in_slices(self) -> None:
        to_wake = self._to_wake
        try:
            while to_wake:
                for _ in range(min(WAKE_SLICE, len(to_wake))):
                    to_wake.popleft().wake.set()
                await asyncio.sleep(0)
        finally:
            self._waker = None

    def on_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        for user_id in user_ids:
            for connection in self.connections.get(user_id, ()):
                if connection.state is State.LIVE:
                    connection.say(event)

    def on_session_end(self, user_id: int, device_id: int | None, reason: str) -> None:
        """A session ended in some process (sign-out, a device removed, suspension, erasure):
        its sockets here close with 4401 and ``reason`` (``device_id`` None: every device)."""
        for connection in list(self.connections.get(user_id, ())):
            if device_id is None or connection.caller.device_id == device_id:
                connection.end(CLOSE_UNAUTHENTICATED, reason)

    def on_resync(self) -> None:
        """The bus may have missed wake-ups: every connection re-reads the log."""
        for conns in self.connections.values():
            for connection in conns:
                connection.resync()

    @property
    def connection_count(self) -> int:
        return sum(len(c) for c in self.connections.values())

    async def stop(self, grace: float = 5.0) -> None:
        """Let sends already handed to the message service finish, then give up on them."""
        if self._waker is not None:
            self._waker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waker
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in set(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- one socket ---------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, caller: Caller) -> None:
        connection = Connection(self, websocket, caller)
        self.connections[caller.user_id].add(connection)
        if self.calls is not None:
            self.calls.opened(connection)
        self.open_count += 1
        if self.collector is not None:
            self.collector.opened(self.open_count)
        # Indexed before the query: a join committed meanwhile is heard, and waits for it.
        self.channel_index.open(connection)
        writer = asyncio.create_task(connection.writer(), name="ws-writer")
        try:
            channel_ids, as_of = await self.chats.channel_subscriptions(caller)
            self.channel_index.loaded(connection, channel_ids, as_of)
            await self._read(connection, writer)
        except WebSocketDisconnect:
            pass
        finally:
            if self.calls is not None:
                self.calls.closed(connection)
            self.channel_index.close(connection)
            if connection.ending is not None:  # the writer is saying why it closes
                await asyncio.wait({writer}, timeout=CLOSE_GRACE)
            if connection.state is not State.CLOSED:
                connection.close()
            users = self.connections.get(caller.user_id)
            if users is not None:
                users.discard(connection)
                if not users:
                    del self.connections[caller.user_id]
            self.open_count -= 1
            if self.collector is not None:
                self.collector.closed(self.open_count)
            # Sends under way carry on (their messages are stored); their acks go nowhere,
            # and the client's retry with the same client_id gets the stored message.
            writer.cancel()
            await asyncio.wait({writer})

    async def _read(self, connection: Connection, writer: asyncio.Task[None]) -> None:
        websocket = connection.websocket
        while connection.state is not State.CLOSED:
            while len(connection.sends) >= self.max_in_flight:
                connection.send_done.clear()
                if not await _unless_done(connection.send_done.wait(), writer):
                    return
            message = await _unless_done(websocket.receive(), writer)
            if message is None or message["type"] == "websocket.disconnect":
                return
            if connection.ending is not None:  # the session ended while this was on the way
                return
            text = message.get("text")
            if text is None:
                connection.say(_error("invalid_frame", "Frames are JSON text, not binary."))
                continue
            if len(text) > WS_FRAME_MAX_CHARS:  # not even looked at (issue 9.5)
                connection.end(CLOSE_FRAME_TOO_LARGE, "frame_too_large")
                return
            self._handle(connection, text)

    def _handle(self, connection: Connection, raw: str) -> None:
        if nests_deeper_than(raw, WS_FRAME_MAX_DEPTH):  # the parser would recurse that deep
            message = f"Frames nest at most {WS_FRAME_MAX_DEPTH} levels deep."
            connection.say(_error("invalid_frame", message))
            return
        try:
            frame = json.loads(raw)
        except ValueError:
            connection.say(_error("invalid_json", "Frames are JSON objects."))
            return
        if not isinstance(frame, dict):
            connection.say(_error("invalid_frame", "Frames are JSON objects."))
            return
        kind = frame.get("type")
        connection.frames_read += 1
        if kind == "resume":
            after = frame.get("after", 0)
            if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
                connection.say(_error("invalid_frame", "resume.after is a seq (integer >= 0)."))
                return
            connection.resume(after)
        elif kind == "send":
            connection.last_send_frame = connection.frames_read
            self._spawn(connection, self._send(connection, frame))
        elif kind == "typing":
            self._spawn(connection, self._typing(connection, frame, connection.frames_read))
        elif kind == "ping":
            connection.say({"type": "pong"})
        elif self.calls is not None and isinstance(kind, str) and kind.startswith("call."):
            self._spawn(connection, self.calls.handle(connection, frame))
        else:
            shown = kind if isinstance(kind, str) and len(kind) <= 32 else "?"
            connection.say(_error("unknown_frame", f"Unknown frame type {shown!r}."))

    def _spawn(self, connection: Connection, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        connection.sends.add(task)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            connection.sends.discard(finished)
            self._tasks.discard(finished)
            connection.send_done.set()

        task.add_done_callback(done)

    async def _send(self, connection: Connection, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        shown = client_id if isinstance(client_id, str) and len(client_id) <= 64 else None
        try:
            chat_id, text, reply_to, forward_of = _parse_send(frame)
            sent = await self.messages.send(
                connection.caller,
                chat_id,
                client_id=_client_id(client_id),
                text=text,
                reply_to=reply_to,
                forward_of=forward_of,
                # Checked by the service (a list of ids, each once, at most media_per_message).
                media_ids=frame.get("media_ids"),
            )
        except PayamError as exc:
            connection.say(_error(exc.code, exc.message, shown))
            return
        except Exception:
            log.exception("WebSocket send failed")
            connection.say(_error("internal_error", "The message was not stored; retry.", shown))
            return
        ack = {"type": "ack", "client_id": client_id, "message": sent.message}
        connection.say({**ack, "created": sent.created})

    async def _typing(self, connection: Connection, frame: dict[str, Any], number: int) -> None:
        """Pass "typing" on to the chat's other members, unless the client sent a message
        since (frame ``number`` is this one): checking the membership reads the database,
        and a send after it may be stored and delivered first. A typing frame arriving after
        the message would show "typing…" for seconds to someone who has the message already;
        the message says more than the typing did."""
        chat_id = frame.get("chat_id")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool) or not 0 < chat_id < 2**63:
            connection.say(_error("invalid_frame", "typing needs chat_id."))
            return
        try:
            members = await self.chats.check_member(connection.caller, chat_id)
            if connection.last_send_frame > number:
                return
            others = [m for m in members if m != connection.caller.user_id]
            event = {"type": "typing", "chat_id": chat_id, "user_id": connection.caller.user_id}
            await self.bus.publish_ephemeral(others, event)
        except PayamError as exc:
            connection.say(_error(exc.code, exc.message))
        except Exception:
            log.exception("WebSocket typing failed")
            connection.say(_error("internal_error", "Typing was not passed on."))


async def _unless_done(work: Coroutine[Any, Any, T], other: asyncio.Task[Any]) -> T | None:
    """``await work``, or None (work cancelled) if ``other`` finishes first."""
    task = asyncio.create_task(work)
    done, _ = await asyncio.wait({task, other}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    return None


def _client_id(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("client_id is required (a string).", code="invalid_client_id")
    return value


def _parse_send(frame: dict[str, Any]) -> tuple[int, str | None, int | None, int | None]:
    ids = {name: frame.get(name) for name in ("chat_id", "reply_to", "forward_of")}
    for name, value in ids.items():
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63
        ):
            raise InvalidInput(f"{name} is an integer id.", code="invalid_frame")
    text = frame.get("text")
    if text is not None and not isinstance(text, str):
        raise InvalidInput("text is a string.", code="invalid_frame")
    chat_id = ids["chat_id"]
    if chat_id is None:
        raise InvalidInput("chat_id is required.", code="invalid_frame")
    return chat_id, text, ids["reply_to"], ids["forward_of"]
