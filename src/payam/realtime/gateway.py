"""The WebSocket gateway (``GET /v1/ws``): live updates with no gap and no duplicate.

Each connection is in one of these states, and an illegal transition is an error:

    CONNECTED --resume--> SYNCING --caught up--> LIVE --gap--> SYNCING ...
        any --lagging or closed--> CLOSED

A connection remembers the last seq it delivered. Live updates are appended to a bounded
buffer; one writer task per connection sends them in order, and whenever the next update is
not ``delivered + 1`` (a missed wake-up, a resume, another process's update) it reads the gap
from the updates log, which is the source of truth. A client that falls so far behind that
the buffer overflows is told ``{"type": "resume_required"}`` and the socket closes; its next
``resume`` replays from the log. Memory per connection is bounded by the buffer.

Client -> server frames: ``resume {after}``, ``send {chat_id, client_id, text, ...}``,
``typing {chat_id}``, ``ping``. Server -> client: ``update {seq, kind, ...}``, ``ack
{client_id, message}``, ``error {client_id?, error}``, ``typing {chat_id, user_id}``,
``synced {last_seq}``, ``resume_required {after}``, ``pong``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from payam.domain.errors import InvalidInput, PayamError
from payam.domain.events import Update
from payam.domain.models import Caller
from payam.services.chats import ChatService
from payam.services.messages import MessageService
from payam.services.updates import UpdateLog

log = logging.getLogger(__name__)


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


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class Connection:
    def __init__(self, gateway: Gateway, websocket: WebSocket, caller: Caller) -> None:
        self.gateway = gateway
        self.websocket = websocket
        self.caller = caller
        self.state = State.CONNECTED
        self.delivered = 0
        self.buffer: deque[Update] = deque()
        self.outbox: deque[str] = deque()  # acks, errors, typing: not part of the seq stream
        self.wake = asyncio.Event()
        self.lagging = False

    def move(self, new: State) -> None:
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state.value} -> {new.value}")
        self.state = new

    def offer(self, update: Update) -> None:
        """Called by the bus with a committed update of this user (any order, maybe twice)."""
        if self.state in (State.CONNECTED, State.CLOSED) or update.seq <= self.delivered:
            return
        if len(self.buffer) >= self.gateway.buffer_limit:
            self.lagging = True
            self.buffer.clear()
        else:
            self.buffer.append(update)
        self.wake.set()

    def say(self, body: dict[str, Any]) -> None:
        if len(self.outbox) >= self.gateway.buffer_limit:
            self.lagging = True
        else:
            self.outbox.append(_dumps(body))
        self.wake.set()

    def resume(self, after: int) -> None:
        self.delivered = max(0, after)
        self.buffer.clear()
        self.move(State.SYNCING)
        self.wake.set()

    async def _catch_up(self) -> None:
        """Send what the log holds after ``delivered``, page by page."""
        updates = self.gateway.updates
        while True:
            page = await updates.fetch(self.caller.user_id, self.delivered, 500)
            if page.too_old:
                await self.websocket.send_text(
                    _dumps(
                        {
                            "type": "resync_required",
                            "after": self.delivered,
                            "reason": "updates this old are no longer kept; reload the chat list",
                        }
                    )
                )
                self.delivered = page.last_seq
                return
            for update in page.updates:
                await self.websocket.send_text(_dumps({"type": "update", **update.to_json()}))
                self.delivered = update.seq
            if not page.has_more:
                return

    async def writer(self) -> None:
        """The only task that writes to the socket."""
        while self.state is not State.CLOSED:
            await self.wake.wait()
            self.wake.clear()
            if self.lagging:
                await self.websocket.send_text(
                    _dumps({"type": "resume_required", "after": self.delivered})
                )
                await self.websocket.close(code=4008, reason="too far behind; resume")
                self.move(State.CLOSED)
                return
            while self.outbox:
                await self.websocket.send_text(self.outbox.popleft())
            if self.state is State.SYNCING:
                await self._catch_up()
                self.move(State.LIVE)
                await self.websocket.send_text(
                    _dumps({"type": "synced", "last_seq": self.delivered})
                )
            while self.state is State.LIVE and self.buffer:
                update = self.buffer.popleft()
                if update.seq <= self.delivered:
                    continue
                if update.seq != self.delivered + 1:
                    self.buffer.appendleft(update)
                    await self._catch_up()  # a gap: the log fills it
                    continue
                await self.websocket.send_text(_dumps({"type": "update", **update.to_json()}))
                self.delivered = update.seq
                if self.outbox:
                    break  # acks do not wait behind a long stream
            if self.outbox or (self.state is State.LIVE and self.buffer):
                self.wake.set()


class Gateway:
    def __init__(
        self,
        updates: UpdateLog,
        messages: MessageService,
        chats: ChatService,
        *,
        buffer_limit: int = 2000,
    ) -> None:
        self.updates = updates
        self.messages = messages
        self.chats = chats
        self.buffer_limit = buffer_limit
        self.connections: dict[int, set[Connection]] = defaultdict(set)

    # Bus handlers: synchronous and cheap, they only append to buffers.
    def on_updates(self, updates: Sequence[Update]) -> None:
        connections = self.connections
        for update in updates:
            for connection in connections.get(update.user_id, ()):
                connection.offer(update)

    def on_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        for user_id in user_ids:
            for connection in self.connections.get(user_id, ()):
                if connection.state is State.LIVE:
                    connection.say(event)

    def on_resync(self) -> None:
        """The bus may have missed wake-ups: every live connection re-reads the log."""
        for conns in self.connections.values():
            for connection in conns:
                if connection.state is State.LIVE:
                    connection.move(State.SYNCING)
                    connection.wake.set()

    @property
    def connection_count(self) -> int:
        return sum(len(c) for c in self.connections.values())

    async def serve(self, websocket: WebSocket, caller: Caller) -> None:
        connection = Connection(self, websocket, caller)
        self.connections[caller.user_id].add(connection)
        writer = asyncio.create_task(connection.writer(), name="ws-writer")
        try:
            while connection.state is not State.CLOSED:
                receive = asyncio.ensure_future(websocket.receive_text())
                done, _ = await asyncio.wait({receive, writer}, return_when=asyncio.FIRST_COMPLETED)
                if writer in done:
                    receive.cancel()
                    with contextlib.suppress(BaseException):
                        await receive
                    writer.result()
                    return
                await self._handle(connection, receive.result())
        except WebSocketDisconnect:
            pass
        finally:
            if connection.state is not State.CLOSED:
                connection.move(State.CLOSED)
            connection.wake.set()
            self.connections[caller.user_id].discard(connection)
            if not self.connections[caller.user_id]:
                del self.connections[caller.user_id]
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer

    async def _handle(self, connection: Connection, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            connection.say(
                {
                    "type": "error",
                    "error": {"code": "invalid_json", "message": "Frames are JSON objects."},
                }
            )
            return
        if not isinstance(frame, dict):
            connection.say(
                {
                    "type": "error",
                    "error": {"code": "invalid_frame", "message": "Frames are JSON objects."},
                }
            )
            return
        kind = frame.get("type")
        if kind == "resume":
            after = frame.get("after", 0)
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                connection.say(
                    {
                        "type": "error",
                        "error": {
                            "code": "invalid_frame",
                            "message": "resume.after is a seq (integer >= 0).",
                        },
                    }
                )
                return
            connection.resume(after)
        elif kind == "send":
            asyncio.create_task(self._send(connection, frame))  # noqa: RUF006 (acks say how it went)
        elif kind == "typing":
            asyncio.create_task(self._typing(connection, frame))  # noqa: RUF006
        elif kind == "ping":
            connection.say({"type": "pong"})
        else:
            connection.say(
                {
                    "type": "error",
                    "error": {"code": "unknown_frame", "message": f"Unknown frame type {kind!r}."},
                }
            )

    async def _send(self, connection: Connection, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        try:
            chat_id, text, reply_to, forward_of = _parse_send(frame)
            sent = await self.messages.send(
                connection.caller,
                chat_id,
                client_id=client_id,  # type: ignore[arg-type]
                text=text,
                reply_to=reply_to,
                forward_of=forward_of,
            )
            connection.say(
                {
                    "type": "ack",
                    "client_id": client_id,
                    "message": sent.message,
                    "created": sent.created,
                }
            )
        except PayamError as exc:
            connection.say(
                {
                    "type": "error",
                    "client_id": client_id,
                    "error": {"code": exc.code, "message": exc.message},
                }
            )
        except Exception:
            log.exception("WebSocket send failed")
            connection.say(
                {
                    "type": "error",
                    "client_id": client_id,
                    "error": {
                        "code": "internal_error",
                        "message": "The message was not stored; retry.",
                    },
                }
            )

    async def _typing(self, connection: Connection, frame: dict[str, Any]) -> None:
        chat_id = frame.get("chat_id")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            connection.say(
                {
                    "type": "error",
                    "error": {"code": "invalid_frame", "message": "typing needs chat_id."},
                }
            )
            return
        try:
            members = await self.chats.check_member(connection.caller, chat_id)
        except PayamError as exc:
            connection.say({"type": "error", "error": {"code": exc.code, "message": exc.message}})
            return
        others = [m for m in members if m != connection.caller.user_id]
        await self.chats.updates.bus.publish_ephemeral(
            others, {"type": "typing", "chat_id": chat_id, "user_id": connection.caller.user_id}
        )


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
