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

from payam.domain.background import raise_if_cancelling
from payam.storage import access_log
from payam.storage.database import Database

log = logging.getLogger(__name__)


# A User-Agent longer than this says nothing more about the browser.
USER_AGENT_MAX = 512
WARM_UP_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def browser_of(user_agent: str | None) -> tuple[str | None, str | None]:
    """(family, version) of a User-Agent header, e.g. ("Chrome", "120.0")."""
    if not user_agent:
        return None, None
    # Cut before the cache: keyed on the whole header, 4,096 entries of 16 KB junk each would
    # be 64 MB that any client can make us hold.
    return _parsed_browser(user_agent[:USER_AGENT_MAX])


@lru_cache(maxsize=4096)
def _parsed_browser(user_agent: str) -> tuple[str | None, str | None]:
    parsed = parse_user_agent(user_agent)
    if parsed is None:
        return "Other", None
    version = ".".join(part for part in (parsed.major, parsed.minor) if part) or None
    return parsed.family[:64], version[:32] if version else None


class AccessLogWriter:
    """Buffers entries in memory and writes them in batches.

    ``flush`` returns only once everything recorded before it was called is committed (or,
    if the database refused the batch, logged as lost): it waits for a write already under
    way. ``stop`` lets a write under way finish, then writes what is left, so a shutdown
    loses nothing.
    """

    def __init__(
        self,
        db: Database,
        *,
        flush_interval: float = 1.0,
        max_batch: int = 1000,
        stop_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.stop_timeout = stop_timeout
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._stopping = False

    def record(self, entry: dict[str, Any]) -> None:
        self._buffer.append(entry)
        if len(self._buffer) >= self.max_batch:
            self._wake.set()

    async def flush(self) -> int:
        """Write what is buffered in one transaction; return how many entries were written."""
        async with self._writing:
            entries, self._buffer = self._buffer, []
            if not entries:
                return 0
            try:
                async with self.db.write() as conn:
                    return await access_log.append_many(conn, entries)
            except Exception:
                raise_if_cancelling()
                log.exception("could not write %d access-log entries", len(entries))
                return 0

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            # ua-parser compiles its rules on first use (over 100 ms): at start, not during
            # the first request, which would hold up every other one meanwhile.
            browser_of(WARM_UP_USER_AGENT)
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="access-log-writer")

    async def stop(self) -> None:
        if self._task is not None:
            # Not cancel(): a cancelled write rolls back and its batch, already taken out of
            # the buffer, would be lost. Ask the loop to end after the write it is doing.
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, self.stop_timeout)
            except TimeoutError:
                log.warning("the access-log writer did not stop in %ss", self.stop_timeout)
            self._task = None
        await self.flush()
