"""One-to-one calls (P5.1): the signalling rules, the calls under way, their records, TURN.

The server never touches media. It relays the WebRTC signalling frames of docs/realtime.md
between the two people's devices (``call.invite``, ``call.answer``, ``call.candidates``,
``call.select_answer``, ``call.reject``, ``call.hangup``, ``call.negotiate``) and keeps these
rules:

- a call happens only in a direct chat both people are still in, and never to or from a
  blocked user;
- one call per person at a time: an invite to or from someone already in a call is ``busy``;
- every device of the callee rings, and the caller's other devices see the call; the first
  device to answer takes it and the others hear ``call.answered_elsewhere``;
- an invite nobody answers in ``call_ring_seconds`` ends as missed; a call whose sockets all
  dropped ends as failed;
- invites are rate limited (``call_invite_per_user``, ``call_invite_per_pair``).

Each call ends in one record, a message of kind "call" in the chat (``MessageService.
record_call``): id, video, outcome, started_at, duration_s. SDP and ICE candidates carry IP
addresses: they are relayed and never stored, and never logged (nothing here logs a frame).

Calls under way live in the memory of the process that took the invite (its owner). Frames
reach devices anywhere through the event bus (``call.deliver`` envelopes); a frame about a call
this process does not own is forwarded on the bus (``call.control``) to the process that does.
A device of the callee that connects while a call rings is offered it too: its socket's relay
publishes ``call.hello`` and the owner answers with the invite (and the caller's candidates so
far) for that socket alone. Several processes do not share the busy rule: two invites taken
by two processes at the same moment can both ring (docs/calls.md). A restart of the owner
forgets its calls without a record.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from payam.adapters.bus import EventBus
from payam.config import EventBusKind, Settings
from payam.domain.background import raise_if_cancelling
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PayamError
from payam.domain.events import iso
from payam.domain.limits import Limit
from payam.domain.models import Caller
from payam.services.limiter import RateLimiter
from payam.services.messages import MessageService
from payam.storage import blocks as block_store
from payam.storage import chats as chat_store
from payam.storage.database import Database

log = logging.getLogger(__name__)

CALL_ID = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
# Largest SDP relayed (an offer with audio, video and data is a few KB).
SDP_MAX_CHARS = 64 * 1024
CANDIDATES_MAX = 64
CANDIDATE_MAX_CHARS = 1024
REASON_MAX_CHARS = 64
_CANDIDATE_KEYS = {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}

# Outcomes of a call (public contract, the ``call.outcome`` of its record).
ANSWERED = "answered"
MISSED = "missed"
DECLINED = "declined"
BUSY = "busy"
FAILED = "failed"

# Envelopes on the bus (published to no user: only the call relays read them).
DELIVER = "call.deliver"
CONTROL = "call.control"
GONE = "call.gone"
HELLO = "call.hello"
# The caller's candidates kept while it rings, for a callee device that connects later.
RING_CANDIDATES_MAX = 4 * 64

Device = tuple[int, int]  # (user id, device id)
Target = tuple[int, int | None]  # a device, or every device of a user (None)


@dataclass
class Call:
    id: str
    chat_id: int
    caller: Device
    callee_id: int
    video: bool
    created_at: float
    deadline: float
    answered_by: Device | None = None
    selected: Device | None = None
    started_at: float | None = None
    gone: set[Device] = field(default_factory=set)
    # Kept in memory only while it rings, to offer the call to a callee device that connects
    # later (never stored, never logged; dropped when answered or ended).
    sdp: str = field(default="", repr=False)
    candidates: list[Any] = field(default_factory=list, repr=False)

    @property
    def caller_id(self) -> int:
        return self.caller[0]

    def side_of(self, user_id: int) -> str | None:
        if user_id == self.caller_id:
            return "caller"
        if user_id == self.callee_id:
            return "callee"
        return None

    def participants(self) -> set[Device]:
        out = {self.caller}
        if self.answered_by is not None:
            out.add(self.answered_by)
        return out


class CallService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        limiter: RateLimiter,
        bus: EventBus,
        messages: MessageService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.limiter = limiter
        self.bus = bus
        self.messages = messages
        self.calls: dict[str, Call] = {}
        self._busy: dict[int, str] = {}  # user id -> the call they are in
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        # Called with (callee id, call id) when a call starts ringing: Web Push wakes the
        # callee's devices that are not connected (set by the composition root).
        self.on_ring: Callable[[int, str], None] | None = None
        # With several processes, a frame about a call this one does not own is forwarded.
        self.multi_process = settings.event_bus is EventBusKind.redis

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        self.bus.subscribe(_ignore_updates, self._on_bus, _ignore_resync)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(interval), name="call-timer")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in set(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _tick_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                raise_if_cancelling()
                log.exception("the call timer failed")

    async def tick(self) -> None:
        """End, as missed, every call still ringing past its deadline (by the clock)."""
        now = self.clock.now()
        for call in [c for c in self.calls.values() if c.answered_by is None]:
            if now >= call.deadline:
                async with self._lock:
                    if self.calls.get(call.id) is call:
                        await self._end(call, MISSED, None, reason=MISSED)

    # -- TURN -----------------------------------------------------------------------------------

    async def turn_credentials(self, caller: Caller) -> dict[str, Any]:
        """Short-lived TURN credentials in coturn's TURN REST API scheme (``use-auth-secret``):
        username ``<expiry>:<user id>``, password base64(HMAC-SHA1(secret, username))."""
        secret = self.settings.turn_secret
        if not self.settings.turn_uris or secret is None:
            raise Conflict("This server has no TURN relay configured.", code="turn_not_configured")
        await self.limiter.spend(
            Limit.turn_credentials_per_user,
            str(caller.user_id),
            message="Too many TURN credentials asked for; try again later.",
        )
        ttl = self.settings.turn_ttl_seconds
        username = f"{int(self.clock.now()) + ttl}:{caller.user_id}"
        password = turn_password(secret.get_secret_value(), username)
        return {
            "uris": list(self.settings.turn_uris),
            "username": username,
            "password": password,
            "ttl": ttl,
        }

    # -- frames from a device -------------------------------------------------------------------

    async def handle(self, caller: Caller, frame: dict[str, Any]) -> None:
        """A ``call.*`` frame from one of ``caller``'s sockets. Raises ``PayamError`` when it
        is refused (the gateway answers with an ``error`` frame carrying the code)."""
        kind = frame.get("type")
        call_id = frame.get("call_id")
        if not isinstance(call_id, str) or not CALL_ID.match(call_id):
            raise InvalidInput(
                "call_id is 1-48 characters of letters, digits and . _ -", code="invalid_frame"
            )
        if kind == "call.invite":
            await self._invite(caller, call_id, frame)
            return
        if kind not in _HANDLERS:
            raise InvalidInput("Unknown call frame.", code="unknown_frame")
        if call_id not in self.calls and self.multi_process:
            # Owned by another process (or by none: then nobody answers).
            envelope = {
                "type": CONTROL,
                "from": [caller.user_id, caller.device_id],
                "frame": frame,
            }
            await self.bus.publish_ephemeral([], envelope)
            return
        await self._control(caller, frame)

    async def _control(self, caller: Caller, frame: dict[str, Any]) -> None:
        async with self._lock:
            call = self.calls.get(frame["call_id"])
            if call is None or call.side_of(caller.user_id) is None:
                raise NotFound("No such call.", code="call_not_found")
            device = (caller.user_id, caller.device_id)
            call.gone.discard(device)  # a device that speaks is connected again
            await _HANDLERS[frame["type"]](self, call, device, frame)

    async def device_gone(self, user_id: int, device_id: int, call_ids: set[str]) -> None:
        """Every socket of this device closed; it took part in these calls."""
        mine = {i for i in call_ids if i in self.calls}
        for call_id in mine:
            async with self._lock:
                call = self.calls.get(call_id)
                if call is not None:
                    await self._lost(call, (user_id, device_id))
        rest = call_ids - mine
        if rest and self.multi_process:
            envelope = {"type": GONE, "device": [user_id, device_id], "calls": sorted(rest)}
            await self.bus.publish_ephemeral([], envelope)

    async def _lost(self, call: Call, device: Device) -> None:
        if device not in call.participants():
            return
        call.gone.add(device)
        ringing = call.answered_by is None
        if (ringing and device == call.caller) or call.gone >= call.participants():
            await self._end(call, FAILED, None, reason=FAILED)

    # -- the bus --------------------------------------------------------------------------------

    def _on_bus(self, _user_ids: Any, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind not in (CONTROL, GONE, HELLO):
            return
        task = asyncio.get_running_loop().create_task(self._from_bus(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _from_bus(self, event: dict[str, Any]) -> None:
        try:
            if event["type"] == HELLO:
                user_id, device_id = (int(x) for x in event["device"])
                await self._offer_ringing(user_id, device_id, str(event["socket"]))
                return
            if event["type"] == GONE:
                user_id, device_id = (int(x) for x in event["device"])
                for call_id in event["calls"]:
                    async with self._lock:
                        call = self.calls.get(str(call_id))
                        if call is not None:
                            await self._lost(call, (user_id, device_id))
                return
            frame = dict(event["frame"])
            if frame.get("call_id") not in self.calls:
                return  # another process's call, or nobody's
            user_id, device_id = (int(x) for x in event["from"])
            caller = Caller(user_id, device_id)
            try:
                await self._control(caller, frame)
            except PayamError as exc:
                await self._say([(user_id, device_id)], _error_frame(exc, frame.get("call_id")))
        except (KeyError, TypeError, ValueError):
            log.warning("ignored a malformed call envelope on the bus")
        except Exception:
            log.exception("a forwarded call frame failed")

    async def _offer_ringing(self, user_id: int, device_id: int, socket: str) -> None:
        """A socket of ``user_id``'s device opened: offer it every call to that user this
        process owns that still rings (the invite with the ring time left, then the caller's
        candidates so far), unless the two block each other now."""
        async with self._lock:
            now = self.clock.now()
            ringing = [
                c
                for c in self.calls.values()
                if c.callee_id == user_id and c.answered_by is None and now < c.deadline
            ]
            for call in ringing:
                async with self.db.read() as conn:
                    blocked = await block_store.blocked_pairs(
                        conn, [(call.callee_id, call.caller_id), (call.caller_id, call.callee_id)]
                    )
                if blocked:
                    continue
                sender = {"from_user_id": call.caller_id, "from_device_id": call.caller[1]}
                lifetime_ms = max(1, int((call.deadline - now) * 1000))
                to: list[Target] = [(user_id, device_id)]
                await self._say(to, {**_invite_frame(call, lifetime_ms), **sender}, socket=socket)
                for start in range(0, len(call.candidates), CANDIDATES_MAX):
                    body = {
                        "type": "call.candidates",
                        "call_id": call.id,
                        "candidates": call.candidates[start : start + CANDIDATES_MAX],
                    }
                    await self._say(to, {**body, **sender}, socket=socket)

    # -- the rules ------------------------------------------------------------------------------

    async def _invite(self, caller: Caller, call_id: str, frame: dict[str, Any]) -> None:
        chat_id = frame.get("chat_id")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool) or not 0 < chat_id < 2**63:
            raise InvalidInput("call.invite needs chat_id.", code="invalid_frame")
        sdp = _sdp(frame)
        video = frame.get("video", False)
        if not isinstance(video, bool):
            raise InvalidInput("video is true or false.", code="invalid_frame")
        callee_id = await self._check_direct(caller, chat_id)
        await self.limiter.spend(
            Limit.call_invite_per_user,
            str(caller.user_id),
            code="rate_limited",
            message="Too many calls started; try again later.",
        )
        await self.limiter.spend(
            Limit.call_invite_per_pair,
            f"{caller.user_id}:{callee_id}",
            message="Too many calls to this person; try again later.",
        )
        now = self.clock.now()
        async with self._lock:
            if call_id in self.calls:
                raise Conflict("This call_id is in use.", code="call_id_in_use")
            if caller.user_id in self._busy or callee_id in self._busy:
                busy = Call(
                    call_id, chat_id, (caller.user_id, caller.device_id), callee_id, video, now, now
                )
                await self._record(busy, BUSY)
                raise Conflict("They are in another call.", code=BUSY)
            call = Call(
                call_id,
                chat_id,
                (caller.user_id, caller.device_id),
                callee_id,
                video,
                created_at=now,
                deadline=now + self.settings.call_ring_seconds,
                sdp=sdp,
            )
            self.calls[call_id] = call
            self._busy[caller.user_id] = call_id
            self._busy[callee_id] = call_id
            relayed = _invite_frame(call, self.settings.call_ring_seconds * 1000)
            await self._relay(call.caller, relayed, [(callee_id, None)], echo=True)
        if self.on_ring is not None:
            self.on_ring(callee_id, call_id)

    async def _check_direct(self, caller: Caller, chat_id: int) -> int:
        """The other member of a direct chat both are in, neither blocking the other."""
        async with self.db.read() as conn:
            chat = await chat_store.get(conn, chat_id)
            members = (await chat_store.member_ids_of(conn, [chat_id])).get(chat_id, [])
            if chat is None or caller.user_id not in members:
                raise NotFound("No such chat.", code="chat_not_found")
            if chat.type != "direct":
                raise InvalidInput("Calls are one to one, in a direct chat.", code="not_direct")
            others = [m for m in members if m != caller.user_id]
            if not others:
                raise Conflict("The other person left this chat.", code="peer_left")
            callee_id = others[0]
            blocked = await block_store.blocked_pairs(
                conn, [(callee_id, caller.user_id), (caller.user_id, callee_id)]
            )
        if blocked:
            raise Forbidden("You cannot call this user.", code="blocked")
        return callee_id

    async def _answer(self, call: Call, device: Device, frame: dict[str, Any]) -> None:
        sdp = _sdp(frame)
        if device[0] != call.callee_id:
            raise Forbidden("Only the callee answers.", code="not_allowed")
        if call.answered_by is not None:
            raise Conflict("Another device answered.", code="answered_elsewhere")
        call.answered_by = device
        call.started_at = self.clock.now()
        call.sdp, call.candidates = "", []  # no longer offered to a device that connects
        answer = {"type": "call.answer", "call_id": call.id, "sdp": sdp}
        await self._relay(device, answer, [call.caller])
        elsewhere = {"type": "call.answered_elsewhere", "call_id": call.id}
        # The callee's other devices stop ringing; the caller's other devices know it is on.
        await self._relay(
            device, elsewhere, [(call.callee_id, None), (call.caller_id, None)], echo=False
        )

    async def _candidates(self, call: Call, device: Device, frame: dict[str, Any]) -> None:
        candidates = frame.get("candidates")
        if not isinstance(candidates, list) or not 0 < len(candidates) <= CANDIDATES_MAX:
            raise InvalidInput(
                f"candidates is a list of 1-{CANDIDATES_MAX} candidates.", code="invalid_frame"
            )
        for item in candidates:
            if not _valid_candidate(item):
                raise InvalidInput("A candidate is not valid.", code="invalid_frame")
        if device == call.caller and call.answered_by is None:
            room = RING_CANDIDATES_MAX - len(call.candidates)
            call.candidates.extend(candidates[: max(0, room)])
        body = {"type": "call.candidates", "call_id": call.id, "candidates": candidates}
        await self._relay(device, body, self._peer_of(call, device))

    async def _select_answer(self, call: Call, device: Device, frame: dict[str, Any]) -> None:
        if device != call.caller:
            raise Forbidden("Only the calling device selects the answer.", code="not_allowed")
        chosen = frame.get("device_id")
        if call.answered_by is None or chosen != call.answered_by[1]:
            raise InvalidInput("That device did not answer.", code="invalid_device")
        call.selected = call.answered_by
        body = {"type": "call.select_answer", "call_id": call.id, "device_id": chosen}
        await self._relay(device, body, [(call.callee_id, None)])

    async def _reject(self, call: Call, device: Device, _frame: dict[str, Any]) -> None:
        if device[0] != call.callee_id or call.answered_by is not None:
            raise Conflict("Only a ringing call can be rejected.", code="not_ringing")
        body = {"type": "call.reject", "call_id": call.id}
        await self._relay(device, body, [(call.caller_id, None), (call.callee_id, None)])
        await self._end(call, DECLINED, device)

    async def _hangup(self, call: Call, device: Device, frame: dict[str, Any]) -> None:
        reason = frame.get("reason")
        if reason is not None and (
            not isinstance(reason, str) or not 0 < len(reason) <= REASON_MAX_CHARS
        ):
            raise InvalidInput("reason is a short string.", code="invalid_frame")
        ringing = call.answered_by is None
        if not ringing and device not in call.participants():
            raise Forbidden("This device is not in the call.", code="not_allowed")
        if ringing and device[0] == call.caller_id and device != call.caller:
            raise Forbidden("This device is not in the call.", code="not_allowed")
        body: dict[str, Any] = {"type": "call.hangup", "call_id": call.id}
        if reason is not None:
            body["reason"] = reason
        await self._relay(device, body, [(call.caller_id, None), (call.callee_id, None)])
        # Ringing: the caller gave up (the callee missed it) or the callee declined.
        outcome = ANSWERED
        if ringing:
            outcome = MISSED if device[0] == call.caller_id else DECLINED
        await self._end(call, outcome, device)

    async def _negotiate(self, call: Call, device: Device, frame: dict[str, Any]) -> None:
        sdp = _sdp(frame)
        if call.answered_by is None or device not in call.participants():
            raise Conflict("Renegotiation needs an answered call.", code="not_in_call")
        body = {"type": "call.negotiate", "call_id": call.id, "sdp": sdp}
        await self._relay(device, body, self._peer_of(call, device))

    def _peer_of(self, call: Call, device: Device) -> list[Target]:
        """Where a participant's media frames go: the other side's device in the call (all
        the callee's devices while it rings)."""
        if device[0] == call.caller_id:
            if device != call.caller:
                raise Forbidden("This device is not in the call.", code="not_allowed")
            return [call.answered_by] if call.answered_by else [(call.callee_id, None)]
        if call.answered_by is not None and device != call.answered_by:
            raise Conflict("Another device answered.", code="answered_elsewhere")
        return [call.caller]

    # -- ending ---------------------------------------------------------------------------------

    async def _end(self, call: Call, outcome: str, by: Device | None, *, reason: str = "") -> None:
        """Store the call's record, forget the call, and tell both people's devices. Under
        the lock, so a call ends once."""
        if reason:
            # Ended by the server (missed, failed): both sides hear it as a hangup.
            body = {"type": "call.hangup", "call_id": call.id, "reason": reason}
            await self._say([(call.caller_id, None), (call.callee_id, None)], body)
        record = await self._record(call, outcome)
        self.calls.pop(call.id, None)
        for user_id in (call.caller_id, call.callee_id):
            if self._busy.get(user_id) == call.id:
                del self._busy[user_id]
        ended = {
            "type": "call.ended",
            "call_id": call.id,
            "outcome": outcome,
            "duration_s": record["duration_s"],
        }
        await self._say([(call.caller_id, None), (call.callee_id, None)], ended)
        del by

    async def _record(self, call: Call, outcome: str) -> dict[str, Any]:
        duration = 0
        if outcome in (ANSWERED, FAILED) and call.started_at is not None:
            duration = max(0, round(self.clock.now() - call.started_at))
        record = {
            "id": call.id,
            "video": call.video,
            "outcome": outcome,
            "started_at": iso(call.started_at if call.started_at is not None else call.created_at),
            "duration_s": duration,
        }
        try:
            await self.messages.record_call(call.chat_id, call.caller_id, record)
        except Exception:
            log.exception("storing a call's record failed")
        return record

    # -- delivery -------------------------------------------------------------------------------

    async def _relay(
        self,
        sender: Device,
        body: dict[str, Any],
        to: list[Target],
        *,
        echo: bool = False,
    ) -> None:
        """``body`` from ``sender`` to ``to``; with ``echo`` also to the sender's other devices
        (the caller's other devices see the call). Never to the sending device itself."""
        targets = list(to)
        if echo:
            targets.append((sender[0], None))
        frame = {**body, "from_user_id": sender[0], "from_device_id": sender[1]}
        await self._say(targets, frame, skip=sender)

    async def _say(
        self,
        to: list[Target],
        frame: dict[str, Any],
        *,
        skip: Device | None = None,
        socket: str | None = None,
    ) -> None:
        """``frame`` to the devices ``to`` (``socket``: only to that one socket of theirs)."""
        envelope: dict[str, Any] = {
            "type": DELIVER,
            "to": [[u, d] for u, d in to],
            "frame": frame,
        }
        if skip is not None:
            envelope["skip"] = list(skip)
        if socket is not None:
            envelope["socket"] = socket
        await self.bus.publish_ephemeral([], envelope)


_Handler = Callable[[CallService, Call, Device, dict[str, Any]], Any]
_HANDLERS: dict[str, _Handler] = {
    "call.answer": CallService._answer,
    "call.candidates": CallService._candidates,
    "call.select_answer": CallService._select_answer,
    "call.reject": CallService._reject,
    "call.hangup": CallService._hangup,
    "call.negotiate": CallService._negotiate,
}


def _invite_frame(call: Call, lifetime_ms: int) -> dict[str, Any]:
    return {
        "type": "call.invite",
        "call_id": call.id,
        "chat_id": call.chat_id,
        "sdp": call.sdp,
        "video": call.video,
        "lifetime_ms": lifetime_ms,
    }


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _sdp(frame: dict[str, Any]) -> str:
    sdp = frame.get("sdp")
    if not isinstance(sdp, str) or not 0 < len(sdp) <= SDP_MAX_CHARS:
        raise InvalidInput(
            f"sdp is a string of at most {SDP_MAX_CHARS} characters.", code="invalid_frame"
        )
    return sdp


def _valid_candidate(item: Any) -> bool:
    if not isinstance(item, dict) or not set(item) <= _CANDIDATE_KEYS:
        return False
    candidate = item.get("candidate")
    if not isinstance(candidate, str) or len(candidate) > CANDIDATE_MAX_CHARS:
        return False
    mid = item.get("sdpMid")
    index = item.get("sdpMLineIndex")
    frag = item.get("usernameFragment")
    return (
        (mid is None or (isinstance(mid, str) and len(mid) <= 64))
        and (index is None or (isinstance(index, int) and not isinstance(index, bool)))
        and (frag is None or (isinstance(frag, str) and len(frag) <= 256))
    )


def _error_frame(exc: PayamError, call_id: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"code": exc.code, "message": exc.message}}
    if isinstance(call_id, str) and len(call_id) <= 48:
        body["call_id"] = call_id
    return body


def error_frame(exc: PayamError, frame: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` frame answering a refused call frame (with its call_id when valid)."""
    return _error_frame(exc, frame.get("call_id"))


def _ignore_updates(_updates: Any) -> None:
    return None


def _ignore_resync() -> None:
    return None
