"""Retention (P4.3): what expires is deleted (or reduced) by ``prune``, run by the server every
``prune_interval_seconds`` and by ``payam maintenance prune``: access-log records, their
addresses (cut to /24 or /48 after ``ip_truncate_after_days``), expired codes, full rate-limit
buckets, old updates, devices unused for ``stale_device_days`` (signed out), admins' reads of
user data after ``admin_audit_retention_days``, ended erasure cool-downs, prize-draw
winners after ``draw_retention_days``, the salts and marks of view counting after
``view_dedup_days`` (P10.1: a post's view count is final from then on), and media uploads no
message carried within ``media_unattached_hours``, with their files, and the files a crash left
half written or half erased in the blob store (P5.3), lines of the SMS outbox older than
``sms_outbox_retention_hours`` (numbers and codes, P4.3), and messages whose disappearing timer
ran out (P5.3, ``services/ttl.py``; also every ``message_expiry_interval_seconds`` on a loop of
its own, so they do not wait for the next prune). Once a day it also counts each
channel's subscribers for the channel statistics (P10.1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from payam.adapters.erasure_log import ErasureLog
from payam.adapters.sms import SmsRecords
from payam.config import Settings
from payam.domain.background import raise_if_cancelling
from payam.domain.clock import Clock
from payam.services.channel_stats import take_snapshots
from payam.services.limiter import RateLimiter
from payam.services.media import MediaService
from payam.services.ttl import TtlService
from payam.storage import access_log, account_state, admin, codes, retention, updates, views
from payam.storage.database import Database

log = logging.getLogger(__name__)

DAY = 86400
HOUR = 3600


class Maintenance:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        limiter: RateLimiter,
        media: MediaService,
        ttl: TtlService,
        erasure_log: ErasureLog,
        sms_records: SmsRecords | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.limiter = limiter
        self.media = media
        self.sms_records = sms_records
        self.ttl = ttl
        self.erasure_log = erasure_log
        self._task: asyncio.Task[None] | None = None
        self._expiry_task: asyncio.Task[None] | None = None

    async def prune(self) -> dict[str, int]:
        """Delete expired records; return how many of each kind went."""
        now = self.clock.now()
        s = self.settings
        async with self.db.write() as conn:
            marks, salts = await views.prune(conn, before_day=int(now // DAY) - s.view_dedup_days)
            removed = {
                "access_log": await access_log.prune(
                    conn, older_than=now - self.settings.access_log_retention_days * 86400
                ),
                "auth_codes": await codes.prune(
                    conn, now=now, keep_counters_for=self.settings.code_retention_seconds
                ),
                "rate_limits": await self.limiter.prune(conn),
                # A device further behind than this resyncs from the chat list (realtime.md).
                "updates": await updates.prune(
                    conn, older_than=now - self.settings.updates_retention_days * 86400
                ),
                # Reduced, not deleted: the network stays useful for troubleshooting.
                "access_log_ips_truncated": await retention.truncate_access_log_ips(
                    conn, older_than=now - s.ip_truncate_after_days * DAY
                ),
                "stale_devices": await retention.sign_out_stale_devices(
                    conn, unused_since=now - s.stale_device_days * DAY
                ),
                "admin_access": await admin.prune_access(
                    conn, older_than=now - s.admin_audit_retention_days * DAY
                ),
                "erasure_cooldowns": await account_state.prune_cooldowns(conn, now=now),
                "draw_winners": await retention.prune_draw_winners(
                    conn, drawn_before=now - s.draw_retention_days * DAY
                ),
                "view_marks": marks,
                "view_salts": salts,
            }
        removed["expired_messages"] = await self.ttl.expire()
        # P11.3: erasures older than any backup one may still restore (docs/operations.md).
        removed["erasure_log"] = await asyncio.to_thread(
            self.erasure_log.prune, now - s.erasure_log_retention_days * DAY
        )
        # A transaction of its own: the files go once their rows are committed gone (P5.3).
        removed["unattached_media"] = await self.media.expire_unattached()
        removed["file_leftovers"] = await self.media.files.drop_leftovers(now)
        if self.sms_records is not None:
            removed["sms_outbox_lines"] = await self.sms_records.prune(
                now - s.sms_outbox_retention_hours * HOUR
            )
        # Once a day, at a moment no admin chooses (P10.1): see channel_stats.take_snapshots.
        removed["subscriber_snapshots"] = await take_snapshots(self.db, now)
        return removed

    async def _run(self) -> None:
        while True:
            try:
                removed = await self.prune()
                if any(removed.values()):
                    log.info("retention: pruned %s", removed)
            except Exception:
                raise_if_cancelling()
                log.exception("retention job failed; will try again")
            await asyncio.sleep(self.settings.prune_interval_seconds)

    async def _run_expiry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.message_expiry_interval_seconds)
            try:
                await self.ttl.expire()
            except Exception:
                raise_if_cancelling()
                log.exception("removing expired messages failed; will try again")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention")
        if self._expiry_task is None:
            self._expiry_task = asyncio.create_task(self._run_expiry(), name="retention-expiry")

    async def stop(self) -> None:
        for task in (self._task, self._expiry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        self._expiry_task = None
