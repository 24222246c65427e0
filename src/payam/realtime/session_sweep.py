"""Sockets whose session ended closes even when this process never heard of the end (P9.1).

A session end normally reaches every process on the bus at once (``Gateway.on_session_end``).
What the bus can lose, this catches: a session end published while Redis was unreachable, or
a device removed by a path that tells nobody (retention's stale devices). Every ``interval``
seconds, and at once after each bus resync (when messages may have been lost), the devices of
this process's open sockets are looked up, 500 to a query; a socket whose device is gone
closes with 4401 ``session_ended``, one whose account is suspended with ``account_suspended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from payam.domain.background import raise_if_cancelling
from payam.realtime.gateway import CLOSE_UNAUTHENTICATED, Gateway

log = logging.getLogger(__name__)

# device ids -> {device id: reason} for those whose session ended
EndedSessions = Callable[[list[int]], Awaitable[dict[int, str]]]


class SessionSweeper:
    def __init__(self, gateway: Gateway, ended_sessions: EndedSessions, interval: float) -> None:
        self.gateway = gateway
        self.ended_sessions = ended_sessions
        self.interval = interval
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """Check every open socket's session once; how many sockets were closed."""
        open_now = [c for conns in self.gateway.connections.values() for c in conns]
        if not open_now:
            return 0
        ended = await self.ended_sessions(sorted({c.caller.device_id for c in open_now}))
        closed = 0
        for connection in open_now:
            reason = ended.get(connection.caller.device_id)
            if reason is not None and connection.ending is None:
                connection.end(CLOSE_UNAUTHENTICATED, reason)
                closed += 1
        return closed

    def wake(self) -> None:
        """Sweep now (the bus resubscribed: session ends may have been lost)."""
        self._woken.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ws-session-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.interval)
            self._woken.clear()
            try:
                closed = await self.sweep()
            except Exception:
                raise_if_cancelling()
                log.exception("checking the open sockets' sessions failed; trying again later")
            else:
                if closed:
                    log.info("closed %d sockets whose session had ended", closed)
