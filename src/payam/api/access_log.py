"""ASGI middleware that hands one access-log entry per HTTP request to the writer (P4.2)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payam.domain.clock import Clock
from payam.services.access_log import AccessLogWriter, browser_of


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, writer: AccessLogWriter, clock: Clock) -> None:
        self.app = app
        self.writer = writer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.writer.record(self._entry(scope, status_holder["status"], started))

    def _entry(self, scope: Scope, status: int, started: float) -> dict[str, Any]:
        user_agent = None
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
                break
        family, version = browser_of(user_agent)
        caller = scope.get("state", {}).get("caller")
        route = scope.get("route")
        client = scope.get("client")
        return {
            "at": self.clock.now(),
            "user_id": getattr(caller, "user_id", None),
            "device_id": getattr(caller, "device_id", None),
            "ip": client[0] if client else None,
            "browser_family": family,
            "browser_version": version,
            "method": scope.get("method", "")[:8],
            # The template (/v1/users/{user_id}), never the concrete path or its query.
            "route": (getattr(route, "path", None) or "<unmatched>")[:128],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
