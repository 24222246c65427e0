"""Cookie categories the user allows, and the usage statistics that depend on one (P6, P7.2).

- ``essential`` is always on; ``preferences`` and ``statistics`` are off until granted;
- usage statistics are counts per (day, feature) with no user id. A request is counted only
  if its user grants ``statistics``, decided when the counts are written: a request made
  before the user's latest choice is dropped, so a refusal is never overtaken by a buffered
  count, and a grant never counts what was done before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payam.domain import cookies
from payam.domain.background import raise_if_cancelling
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput
from payam.domain.events import iso
from payam.domain.models import Caller
from payam.storage import consents as store
from payam.storage.database import Database

log = logging.getLogger(__name__)

FEATURE_MAX = 64


@dataclass(frozen=True, slots=True)
class ConsentState:
    granted: dict[str, bool]
    updated_at: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "categories": [
                {
                    "name": c.name,
                    "purpose": c.purpose,
                    "optional": c.optional,
                    "granted": (not c.optional) or self.granted.get(c.name, False),
                    "cookies": list(c.cookies),
                    "features": list(c.features),
                    "updated_at": iso(self.updated_at.get(c.name)),
                }
                for c in cookies.CATEGORIES
            ],
            "features": cookies.features(self.granted),
        }

    def allows(self, category: str) -> bool:
        return self.granted.get(category, False)


class ConsentService:
    def __init__(
        self, db: Database, clock: Clock, *, flush_interval: float = 5.0, max_buffer: int = 10000
    ) -> None:
        self.db = db
        self.clock = clock
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        # (user id, time, feature) of requests not yet counted; user ids never reach storage.
        self._buffer: list[tuple[int, float, str]] = []
        self._writing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def get(self, caller: Caller) -> ConsentState:
        async with self.db.read() as conn:
            found = await store.for_user(conn, caller.user_id)
        return ConsentState(
            {k: v[0] for k, v in found.items()}, {k: v[1] for k, v in found.items()}
        )

    async def set(self, caller: Caller, choices: dict[str, bool]) -> ConsentState:
        unknown = [name for name in choices if name not in cookies.OPTIONAL]
        if unknown:
            raise InvalidInput(
                f"Not optional categories: {', '.join(unknown)}.", code="unknown_category"
            )
        if choices:
            async with self.db.write() as conn:
                await store.put(conn, caller.user_id, choices, now=self.clock.now())
        return await self.get(caller)

    def note_usage(self, user_id: int, feature: str) -> None:
        """Remember one request for the statistics; written (or dropped) by ``flush_usage``."""
        self._buffer.append((user_id, self.clock.now(), feature[:FEATURE_MAX]))
        if len(self._buffer) >= self.max_buffer:
            self._wake.set()

    async def flush_usage(self) -> int:
        """Count the buffered requests of users who grant statistics; returns how many."""
        async with self._writing:
            entries, self._buffer = self._buffer, []
            if not entries:
                return 0
            try:
                async with self.db.write() as conn:
                    since = await store.granted_since(
                        conn, (e[0] for e in entries), cookies.STATISTICS.name
                    )
                    counts: Counter[tuple[str, str]] = Counter(
                        (_day(at), feature)
                        for user_id, at, feature in entries
                        if user_id in since and at > since[user_id]
                    )
                    await store.add_usage(conn, counts)
                    return sum(counts.values())
            except Exception:
                raise_if_cancelling()
                log.exception("could not write usage counters for %d requests", len(entries))
                return 0

    async def usage(self) -> dict[tuple[str, str], int]:
        async with self.db.read() as conn:
            return await store.usage(conn)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            await self.flush_usage()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="usage-counter")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, 30)
            self._task = None
        await self.flush_usage()


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()
