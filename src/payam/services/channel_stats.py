"""View counts and channel statistics (P10.1): how posts perform, without the viewers.

Views. A client reports the posts it displayed; a viewer counts once per post however often
and from however many devices they report it. What makes that possible is a mark,
``HMAC(salt of the post's day, "p", post, viewer)`` cut to 16 bytes, in ``view_marks``; the
salt is random per UTC day, used only through the server's secret (``Keys.view_salt``), and
dropped with its marks after ``view_dedup_days``
(``Maintenance.prune``). So the server keeps no list of who saw what, and after the window
not even the marks: a post's count is then final (a view after that is not counted, and
nothing can be counted twice). New views are written in batches, a bounded number of
statements per transaction whatever the size of the channel; a report of posts already counted
costs one read and no write.

Statistics. A viewer's first report of the day in a channel (mark ``HMAC(today's salt, "c",
channel, viewer)``) adds one to that day's ``viewers`` cells: the total, the calling code of
their number, the OS family of the reporting device, the UTC hour. Nothing else about them is
kept. A report (``GET /v1/chats/{id}/stats``) covers closed days only, shows no cell of fewer
than ``stats_min_group`` people (``domain.aggregates.suppress``), and sums several days only
out of what each day showed. docs/privacy.md says what this does and does not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain.aggregates import Cells, add_up, calling_code, os_family, suppress
from payam.domain.clock import Clock
from payam.domain.errors import Forbidden, NotFound
from payam.domain.events import iso
from payam.domain.keys import Keys
from payam.domain.models import Caller
from payam.storage import channel_stats as stats_store
from payam.storage import chats as chat_store
from payam.storage import views as view_store
from payam.storage.channel_stats import JOINED, LEFT, SUBSCRIBERS, VIEWERS, VIEWS, day_of
from payam.storage.database import Database

log = logging.getLogger(__name__)

DAY = 86400
MARK_BYTES = 16
ADMIN_ROLES = {"owner", "admin"}
# Posts listed in one report, newest first.
REPORT_POSTS = 1000
_DIMENSIONS = {"by_country_code": "cc:", "by_os": "os:", "by_hour": "hour:"}


def _mark(salt: bytes, kind: str, thing_id: int, user_id: int) -> bytes:
    message = f"{kind}:{thing_id}:{user_id}".encode()
    return hmac.new(salt, message, hashlib.sha256).digest()[:MARK_BYTES]


def _date(day: int) -> str:
    stamp = iso(day * DAY)
    assert stamp is not None
    return stamp[:10]


def _dimension(values: dict[str, int], prefix: str, k: int) -> Cells:
    cells = {key.removeprefix(prefix): n for key, n in values.items() if key.startswith(prefix)}
    return suppress(cells, k, total=values.get("", 0))


_NO_POST = view_store.Post(0, 0, 0.0, 0)


def _views(counts: dict[int, int]) -> dict[str, int]:
    return {str(pid): n for pid, n in sorted(counts.items())}


@dataclass(frozen=True, slots=True)
class _Marks:
    posts: dict[bytes, int]  # mark -> post id
    channel: bytes  # the channel's mark of today
    days: dict[bytes, int]  # every mark -> the day it is kept under


@dataclass(frozen=True, slots=True)
class _Report:
    """A report of views waiting for the writer; its future gets the posts' counts."""

    caller: Caller
    chat_id: int
    post_ids: tuple[int, ...]
    future: asyncio.Future[dict[int, int]] = field(repr=False)


def _single(n: int, k: int) -> int | None:
    """A lone count of people: shown when 0 or at least k."""
    return n if n == 0 or n >= k else None


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class ChannelStatsService:
    """Reports of new views are written in batches: whatever reports arrive while one batch
    commits go together in the next transaction (as sends do, ``services/messages.py``), so a
    channel whose subscribers all report at once costs a transaction per batch rather than
    per report. The statements per batch are bounded (about ten, plus two per channel in it)
    whatever the size of the channels."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        keys: Keys,
        *,
        max_batch: int = 256,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.keys = keys
        self.max_batch = max_batch
        # Marks are keyed by the stored salt of their day under the server's secret; these
        # keys never change once made, so they are kept here and most reports read none.
        self._salts: dict[int, bytes] = {}
        self._pending: list[_Report] = []
        self._writer: asyncio.Task[None] | None = None

    # -- views ------------------------------------------------------------------------------------

    async def report_views(
        self, caller: Caller, chat_id: int, message_ids: Sequence[int]
    ) -> dict[str, Any]:
        """Count the caller's view of these posts (P10.1); answers their current counts. Any
        signed-in user may report, subscribed or not (channels are public); ids that are not
        posts of this channel, or deleted, are left out. Posts whose marks are all held
        already (the common case: clients report what they display, again and again) cost
        one read and no write."""
        today = day_of(self.clock.now())
        async with self.db.read() as conn:
            # Posts are messages of channels only, so finding one proves the chat is a channel;
            # the chat itself is read only when none is found (to tell 404 from "none").
            posts = {
                pid: p
                for pid, p in (await view_store.posts(conn, message_ids)).items()
                if p.chat_id == chat_id
            }
            if not posts:
                chat = await chat_store.get(conn, chat_id)
                if chat is None or chat.type != "channel":
                    raise NotFound("No such chat.", code="chat_not_found")
                return {"views": {}}
            salts = await self._salts_of(conn, self._days(posts, today), today, create=False)
            if salts is not None:
                marks = self._marks(salts, caller, chat_id, posts, today)
                held = await view_store.existing_marks(conn, marks.days)
                if held.issuperset(marks.days):
                    return {"views": _views({pid: p.views for pid, p in posts.items()})}
        report = _Report(caller, chat_id, tuple(posts), asyncio.get_running_loop().create_future())
        report.future.add_done_callback(_consume)
        self._pending.append(report)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="view-writer")
        # Shielded: a client that goes away does not cancel a batch others share.
        return {"views": _views(await asyncio.shield(report.future))}

    async def stop(self) -> None:
        """Let the reports already queued be written (a batch commits in milliseconds), so the
        database is not closed under them."""
        if self._writer is not None and not self._writer.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=10)
        self._writer = None

    async def _write_pending(self) -> None:
        """Commit waiting reports, a batch at a time, until none wait. (No await between the
        last look at the queue and the end, so a report queued meanwhile starts a new writer.)
        """
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                counts = await self._commit(batch)
            except Exception as exc:  # the database failed: nobody in this batch is answered
                log.exception("a batch of %d view reports failed", len(batch))
                for report in batch:
                    if not report.future.done():
                        report.future.set_exception(exc)
                continue
            for report, found in zip(batch, counts, strict=True):
                if not report.future.done():
                    report.future.set_result(found)

    async def _commit(self, batch: Sequence[_Report]) -> list[dict[int, int]]:
        """One transaction for a batch of reports: the posts read again (one may have been
        deleted meanwhile), every mark inserted at once, the new ones counted."""
        now = self.clock.now()
        today = day_of(now)
        async with self.db.write() as conn:
            found = await view_store.posts(conn, {pid for r in batch for pid in r.post_ids})
            posts = [
                {
                    pid: found[pid]
                    for pid in r.post_ids
                    if found.get(pid, _NO_POST).chat_id == r.chat_id
                }
                for r in batch
            ]
            days = {today}.union(*(self._days(p, today) for p in posts))
            salts = await self._salts_of(conn, days, today, create=True)
            assert salts is not None
            marks = [
                self._marks(salts, r.caller, r.chat_id, p, today) if p else None
                for r, p in zip(batch, posts, strict=True)
            ]
            held_for: dict[bytes, int] = {}
            for m in marks:
                if m is not None:
                    for mark, day in m.days.items():
                        held_for.setdefault(mark, day)
            new = await view_store.add_marks(conn, list(held_for.items()))
            # A mark two reports of the batch share (one viewer on two devices) counts once.
            claimed: set[bytes] = set()
            views: Counter[int] = Counter()
            cells: dict[int, Counter[tuple[str, str]]] = {}
            first_views: list[tuple[int, Caller]] = []
            for report, m in zip(batch, marks, strict=True):
                if m is None:
                    continue
                for mark, pid in m.posts.items():
                    if mark in new and mark not in claimed:
                        claimed.add(mark)
                        views[pid] += 1
                        cells.setdefault(report.chat_id, Counter())[VIEWS, ""] += 1
                if m.channel in new and m.channel not in claimed:
                    claimed.add(m.channel)
                    first_views.append((report.chat_id, report.caller))
            await view_store.add_views(conn, views)
            people = await view_store.viewers(conn, [caller for _, caller in first_views])
            hour = int(now % DAY // 3600)
            for chat_id, caller in first_views:
                phone, os = people.get(caller.device_id, ("", None))
                chat_cells = cells.setdefault(chat_id, Counter())
                for key in ("", f"cc:{calling_code(phone) or 'unknown'}", f"os:{os_family(os)}"):
                    chat_cells[VIEWERS, key] += 1
                chat_cells[VIEWERS, f"hour:{hour}"] += 1
            for chat_id in sorted(cells):
                await stats_store.count_many(conn, chat_id, now, dict(cells[chat_id]))
            counts = await view_store.counts(conn, {pid for p in posts for pid in p})
        return [{pid: counts[pid] for pid in p if pid in counts} for p in posts]

    def _days(self, posts: dict[int, view_store.Post], today: int) -> set[int]:
        """The days whose salts these posts' marks need: those inside the window."""
        first = today - self.settings.view_dedup_days
        return {d for d in (day_of(p.created_at) for p in posts.values()) if first <= d <= today}

    def _marks(
        self,
        salts: dict[int, bytes],
        caller: Caller,
        chat_id: int,
        posts: dict[int, view_store.Post],
        today: int,
    ) -> _Marks:
        """The caller's marks for these posts and for the channel today. Posts older than the
        window get no mark: their count is final."""
        first = today - self.settings.view_dedup_days
        post_days = {pid: day_of(p.created_at) for pid, p in posts.items()}
        post_days = {pid: d for pid, d in post_days.items() if first <= d <= today}
        by_post = {_mark(salts[d], "p", pid, caller.user_id): pid for pid, d in post_days.items()}
        channel = _mark(salts[today], "c", chat_id, caller.user_id)
        days = {mark: post_days[pid] for mark, pid in by_post.items()}
        days[channel] = today
        return _Marks(by_post, channel, days)

    async def _salts_of(
        self, conn: AsyncConnection, days: set[int], today: int, *, create: bool
    ) -> dict[int, bytes] | None:
        """The mark keys of these days (and today's); None when one is missing and ``create``
        is false."""
        days = days | {today}
        first = today - self.settings.view_dedup_days
        for old in [d for d in self._salts if d < first]:
            del self._salts[old]
        missing = days - self._salts.keys()
        if missing:
            found = await view_store.salts(conn, missing)
            self._salts.update({d: self.keys.view_salt(salt) for d, salt in found.items()})
            missing = days - self._salts.keys()
        if missing and not create:
            return None
        for day in sorted(missing):
            salt = await view_store.create_salt(conn, day, secrets.token_bytes(32))
            self._salts[day] = self.keys.view_salt(salt)
        return {d: self._salts[d] for d in days}

    # -- reports ----------------------------------------------------------------------------------

    async def report(self, caller: Caller, chat_id: int, days: int) -> dict[str, Any]:
        """The statistics of a channel for its owner and admins (P10.1), over the ``days``
        closed days before today (UTC). The layout is in docs/api.md."""
        now = self.clock.now()
        today = day_of(now)
        last, first = today - 1, today - days
        k = self.settings.stats_min_group
        async with self.db.read() as conn:
            chat = await chat_store.get(conn, chat_id)
            if chat is None or chat.type != "channel":
                raise NotFound("No such chat.", code="chat_not_found")
            me = await chat_store.member(conn, chat_id, caller.user_id)
            # Channels are public, so a 403 tells a non-member nothing a search would not.
            if me is None or me.role not in ADMIN_ROLES:
                raise Forbidden(
                    "Only the channel's owner and admins see its statistics.", code="not_admin"
                )
            found = await stats_store.cells(conn, chat_id, first, last)
            posts = await stats_store.posts_between(
                conn, chat_id, first * DAY, today * DAY, REPORT_POSTS
            )
        shown = [_day(day, found.get(day, {}), k) for day in range(first, last + 1)]
        daily = [body for body, _ in shown]
        latest = next((d for d in reversed(daily) if d["subscribers"]["by_os"] is not None), None)
        return {
            "chat_id": chat_id,
            "from": _date(first),
            "to": _date(last),
            "days": days,
            "min_group": k,
            "subscribers": {
                # What every reader of the channel sees on it, not part of the closed days.
                "count": chat.member_count,
                "joined": sum(d["subscribers"]["joined"] or 0 for d in daily),
                "left": sum(d["subscribers"]["left"] or 0 for d in daily),
                "as_of": latest["day"] if latest else None,
                "by_country_code": latest["subscribers"]["by_country_code"] if latest else None,
                "by_os": latest["subscribers"]["by_os"] if latest else None,
            },
            "viewers": {
                "views": sum(d["views"] or 0 for d in daily),
                "viewer_days": sum(d["reach"] or 0 for d in daily),
                **{
                    name: add_up(viewers[name] for _, viewers in shown).as_json()
                    for name in _DIMENSIONS
                },
            },
            "daily": daily,
            "posts": [
                {
                    "id": p.id,
                    "seq": p.seq,
                    "created_at": iso(p.created_at),
                    "views": p.views,
                    "forwards": p.forwards,
                }
                for p in posts
            ],
        }


async def take_snapshots(db: Database, now: float) -> int:
    """Count the subscribers of every channel by calling code and OS family as of the end of
    yesterday (UTC), once: run by the retention job (``Maintenance.prune``), never by a report,
    so an admin cannot choose the moment a snapshot is taken and narrow the difference between
    two of them down to one person's subscription. Subscribers who joined after the day are
    left out. Returns how many channels were counted."""
    day = day_of(now) - 1
    async with db.read() as conn:
        pending = await stats_store.channels_without(conn, day, SUBSCRIBERS)
    for chat_id in pending:
        async with db.read() as conn:
            groups = await stats_store.subscriber_groups(conn, chat_id, (day + 1) * DAY)
        async with db.write() as conn:
            await stats_store.put_day(conn, chat_id, day, SUBSCRIBERS, _snapshot(groups))
    return len(pending)


def _snapshot(groups: Sequence[stats_store.SubscriberGroup]) -> dict[str, int]:
    """The subscribers of a channel as cells: total, by calling code, by OS family."""
    cells: dict[str, int] = {"": 0}
    for group in groups:
        for key in (f"cc:{calling_code(group.prefix) or 'unknown'}", f"os:{os_family(group.os)}"):
            cells[key] = cells.get(key, 0) + group.count
        cells[""] += group.count
    return cells


def _day(
    day: int, metrics: dict[str, dict[str, int]], k: int
) -> tuple[dict[str, Any], dict[str, Cells]]:
    """One closed day as it may be shown (every cell suppressed on its own day), and its
    viewer cells as shown, for the sums over the period."""
    viewers = metrics.get(VIEWERS, {})
    shown = {name: _dimension(viewers, prefix, k) for name, prefix in _DIMENSIONS.items()}
    reach = shown["by_country_code"].total
    snapshot = metrics.get(SUBSCRIBERS)
    body = {
        "day": _date(day),
        "subscribers": {
            "joined": _single(metrics.get(JOINED, {}).get("", 0), k),
            "left": _single(metrics.get(LEFT, {}).get("", 0), k),
            "by_country_code": (
                _dimension(snapshot, "cc:", k).as_json() if snapshot is not None else None
            ),
            "by_os": _dimension(snapshot, "os:", k).as_json() if snapshot is not None else None,
        },
        "reach": reach,
        # Views describe the day's viewers: hidden with them.
        "views": metrics.get(VIEWS, {}).get("", 0) if reach is not None else None,
        "viewers": {name: cells.as_json() for name, cells in shown.items()},
    }
    return body, shown
