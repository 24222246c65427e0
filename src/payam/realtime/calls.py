"""The sockets' side of calls: ``call.*`` frames in, relayed frames out (docs/calls.md).

The gateway hands every ``call.*`` frame to ``CallRelay.handle`` and tells it when a socket
closes; the rules and the calls under way are ``services/calls.py``'s. Frames for devices
arrive as ``call.deliver`` envelopes on the event bus (published to no user, so the gateway's
own ephemeral delivery ignores them): each process hands them to the sockets it holds, which
is how a frame reaches a device connected to another process.

The relay remembers which calls each local socket took part in, so when the last socket of a
device closes the service hears which calls lost it (a call whose sockets all dropped ends as
failed). When a socket opens it publishes ``call.hello`` (its user, device and a token naming
the socket): the process that owns a call ringing for that user answers with a
``call.deliver`` carrying the token, handed to that socket alone (so a tab opened from an
"Incoming call" notification can answer). Frames are never logged: SDP and candidates carry
addresses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from payam.adapters.bus import EventBus
from payam.domain.errors import PayamError
from payam.services.calls import DELIVER, HELLO, CallService, error_frame

if TYPE_CHECKING:
    from payam.domain.models import Caller

log = logging.getLogger(__name__)


class Socket(Protocol):
    """What the relay needs of a gateway connection."""

    caller: Caller

    def say(self, body: dict[str, Any]) -> None: ...


class CallRelay:
    def __init__(self, service: CallService, bus: EventBus) -> None:
        self.service = service
        self.bus = bus
        self._sockets: dict[int, set[Socket]] = defaultdict(set)  # user id -> open sockets
        self._calls_of: dict[Socket, set[str]] = defaultdict(set)
        # One socket's call frames are handled in the order sent (a candidate must not
        # overtake its invite); asyncio's lock serves waiters first come, first served.
        self._order: dict[Socket, asyncio.Lock] = {}
        self._token: dict[Socket, str] = {}  # names a socket in a call.hello and its answer
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.bus.subscribe(_ignore, self._on_bus, _ignore_resync)

    # -- the gateway's hooks ---------------------------------------------------------------------

    def opened(self, socket: Socket) -> None:
        self._sockets[socket.caller.user_id].add(socket)
        token = self._token[socket] = secrets.token_hex(8)
        # A call ringing for this user (in whichever process owns it) is offered to it.
        hello = {
            "type": HELLO,
            "device": [socket.caller.user_id, socket.caller.device_id],
            "socket": token,
        }
        self._spawn(self.bus.publish_ephemeral([], hello))

    def closed(self, socket: Socket) -> None:
        user_id, device_id = socket.caller.user_id, socket.caller.device_id
        users = self._sockets.get(user_id)
        if users is not None:
            users.discard(socket)
            if not users:
                del self._sockets[user_id]
        self._order.pop(socket, None)
        self._token.pop(socket, None)
        calls = self._calls_of.pop(socket, set())
        if not calls or device_id in self.connected_devices(user_id):
            return  # no call, or the device is still connected by another socket
        self._spawn(self.service.device_gone(user_id, device_id, calls))

    async def handle(self, socket: Socket, frame: dict[str, Any]) -> None:
        lock = self._order.setdefault(socket, asyncio.Lock())
        async with lock:
            await self._handle(socket, frame)

    async def _handle(self, socket: Socket, frame: dict[str, Any]) -> None:
        call_id = frame.get("call_id")
        if isinstance(call_id, str):
            self._calls_of[socket].add(call_id)
        try:
            await self.service.handle(socket.caller, frame)
        except PayamError as exc:
            socket.say(error_frame(exc, frame))
        except Exception:
            log.exception("a call frame failed")  # the frame itself is not logged
            socket.say(
                {
                    "type": "error",
                    "error": {"code": "internal_error", "message": "The call frame was lost."},
                }
            )

    def connected_devices(self, user_id: int) -> set[int]:
        """The user's devices with a socket open to this process."""
        return {s.caller.device_id for s in self._sockets.get(user_id, ())}

    async def stop(self) -> None:
        for task in set(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- the bus ---------------------------------------------------------------------------------

    def _on_bus(self, _user_ids: Iterable[int], event: dict[str, Any]) -> None:
        if event.get("type") != DELIVER:
            return
        try:
            frame = event["frame"]
            skip = tuple(event["skip"]) if event.get("skip") else None
            only = event.get("socket")
            targets = [(int(u), None if d is None else int(d)) for u, d in event["to"]]
        except (KeyError, TypeError, ValueError):
            log.warning("ignored a malformed call delivery on the bus")
            return
        text: str | None = None
        call_id = frame.get("call_id")
        delivered: set[Socket] = set()
        for user_id, device_id in targets:
            for socket in self._sockets.get(user_id, ()):
                caller = socket.caller
                if socket in delivered or (device_id is not None and caller.device_id != device_id):
                    continue
                if skip is not None and (caller.user_id, caller.device_id) == skip:
                    continue
                if only is not None and self._token.get(socket) != only:
                    continue
                text = text or json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
                say_encoded = getattr(socket, "say_encoded", None)
                if say_encoded is not None:
                    say_encoded(text)
                else:
                    socket.say(frame)
                delivered.add(socket)
                if isinstance(call_id, str):
                    if frame.get("type") == "call.ended":
                        self._calls_of.get(socket, set()).discard(call_id)
                    else:
                        self._calls_of[socket].add(call_id)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _ignore(_updates: Any) -> None:
    return None


def _ignore_resync() -> None:
    return None
