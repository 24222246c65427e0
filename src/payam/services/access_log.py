"""Recording requests in the access log (P4.2), batched off the request path.

A request only appends to an in-memory buffer; a background task writes the buffer in one
transaction every ``flush_interval`` seconds (or when it reaches ``max_batch``). Logging
never slows an acknowledged send, and a burst costs one commit, not one per request. What is
kept: time, user and device ids, client address, browser family and version (``ua-parser``),
method, route template (never the concrete URL with ids or query), status and duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import lru_cache
from typing import Any

from ua_parser import parse_user_agent

from payam.storage import access_log
from payam.storage.database import Database

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def browser_of(user_agent: str | None) -> tuple[str | None, str | None]:
    """(family, version) of a User-Agent header, e.g. ("Chrome", "120.0")."""
    if not user_agent:
        return None, None
    parsed = parse_user_agent(user_agent[:512])
    if parsed is None:
        return "Other", None
    version = ".".join(part for part in (parsed.major, parsed.minor) if part) or None
    return parsed.family[:64], version[:32] if version else None


class AccessLogWriter:
    def __init__(self, db: Database, *, flush_interval: float = 1.0, max_batch: int = 1000) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def record(self, entry: dict[str, Any]) -> None:
        self._buffer.append(entry)
        if len(self._buffer) >= self.max_batch:
            self._wake.set()

    async def flush(self) -> int:
        entries, self._buffer = self._buffer, []
        if not entries:
            return 0
        try:
            async with self.db.write() as conn:
                await access_log.append_many(conn, entries)
        except Exception:
            log.exception("could not write %d access-log entries", len(entries))
            return 0
        return len(entries)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="access-log-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
