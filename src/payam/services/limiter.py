"""Spending the named limits of ``domain.limits`` (P1.2, P2.4, P9.2).

State lives in the database so that limits hold across restarts and across server processes.
Subjects (addresses, numbers, user ids) are stored only as keyed hashes.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import RateLimited
from payam.domain.keys import Keys
from payam.domain.limits import BucketState, Limit, give_back, take
from payam.storage import limits as store
from payam.storage.database import Database

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, db: Database, settings: Settings, clock: Clock, keys: Keys) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.keys = keys
        self.enabled = settings.rate_limits_enabled

    def key(self, limit: Limit, subject: str) -> str:
        return f"{limit.name}:{self.keys.subject(subject)}"

    async def spend(
        self,
        limit: Limit,
        subject: str,
        *,
        cost: float = 1,
        conn: AsyncConnection | None = None,
        code: str = "rate_limited",
        message: str = "Too many requests; try again later.",
    ) -> None:
        """Spend ``cost`` tokens of ``limit`` for ``subject`` or raise ``RateLimited``.

        With ``conn`` the spend joins the caller's transaction, so a request refused later in
        that transaction does not cost anything either.
        """
        if not self.enabled or cost <= 0:
            return
        if conn is not None:
            await self._spend(conn, limit, subject, cost, code, message)
            return
        async with self.db.write() as own:
            wait = await self._try(own, limit, subject, cost)
        if wait > 0:
            raise RateLimited(message, retry_after=wait, code=code)

    async def _spend(
        self,
        conn: AsyncConnection,
        limit: Limit,
        subject: str,
        cost: float,
        code: str,
        message: str,
    ) -> None:
        wait = await self._try(conn, limit, subject, cost)
        if wait > 0:
            raise RateLimited(message, retry_after=wait, code=code)

    async def _try(self, conn: AsyncConnection, limit: Limit, subject: str, cost: float) -> float:
        rate = self.settings.rate(limit)
        now = self.clock.now()
        key = self.key(limit, subject)
        state = await store.lock(conn, key, BucketState(rate.capacity, now))
        new_state, wait = take(state, rate, cost, now)
        await store.store(conn, key, new_state)
        return wait

    async def refund(
        self, limit: Limit, subject: str, *, conn: AsyncConnection, cost: float = 1
    ) -> None:
        """Give back what ``spend`` took for an action that then failed on our side."""
        if not self.enabled or cost <= 0:
            return
        rate = self.settings.rate(limit)
        now = self.clock.now()
        key = self.key(limit, subject)
        state = await store.lock(conn, key, BucketState(rate.capacity, now))
        await store.store(conn, key, give_back(state, rate, cost, now))

    async def prune(self, conn: AsyncConnection) -> int:
        now = self.clock.now()
        removed = 0
        for limit in Limit:
            rate = self.settings.rate(limit)
            removed += await store.prune(
                conn, prefix=f"{limit.name}:", older_than=now - rate.period
            )
        return removed
