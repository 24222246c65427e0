"""Messages (P5.1, P5.2, P5.3): send with idempotency, history, edit, delete, read markers,
search.

Sends go through group commit: concurrent sends wait in a queue and one writer task commits
them together, many messages per transaction and per fsync. A send is acknowledged only after
its transaction committed (acknowledged means durable), and its updates are published only
then. The same ``(sender, client_id)`` returns the stored message however often, or however
concurrently, it is retried; with different content it is a 409.

Channels (P5.1) fan out on read: a post, an edit or a deletion costs the same with ten or a
million subscribers. It writes the message row and no update row for anyone (not even the
poster's own devices: they hear of it as every subscriber does); after the commit one channel
frame goes to the bus, which hands it to the subscribers that are connected. Everyone else reads
the channel's history, and their unread count comes from their read marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain import events, limits
from payam.domain.background import raise_if_cancelling
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PayamError
from payam.domain.events import Fanout, PendingUpdate, Update
from payam.domain.models import Caller
from payam.services.files import Files
from payam.services.purge import Purger
from payam.services.render import gone_json, message_json, render_messages
from payam.services.updates import UpdateLog
from payam.storage import blocks as block_store
from payam.storage import chats as chat_store
from payam.storage import media as media_store
from payam.storage import messages as store
from payam.storage import ttl as ttl_store
from payam.storage import users as user_store
from payam.storage.database import Database
from payam.storage.media import MediaRow
from payam.storage.messages import MessageRow
from payam.storage.tables import chat_members

log = logging.getLogger(__name__)

CLIENT_ID = re.compile(limits.CLIENT_ID_PATTERN)
ADMIN_ROLES = {"owner", "admin"}
MAX_ID = 2**63 - 1
# Errors caused by one request's data rather than by the database being unwell: a batch that
# meets one is retried (a fresh read sees what another process committed) and then, if it still
# fails, committed request by request so only the request at fault is refused.
_REQUEST_ERRORS = (IntegrityError, DataError)
# Live frames for a channel's connected subscribers, published after their commit.
_Frames = list[tuple[int, dict[str, Any]]]


def content_hash(
    text: str | None,
    reply_to: int | None,
    forward_of: int | None,
    media_ids: Sequence[int] = (),
) -> bytes:
    # Media only when there are some: the hash of a message without media stays what it was,
    # so a retry across an upgrade is still recognised.
    content: list[Any] = [text, reply_to, forward_of]
    if media_ids:
        content.append(list(media_ids))
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


@dataclass(frozen=True, slots=True)
class Sent:
    message: dict[str, Any]
    created: bool


@dataclass
class _SendRequest:
    sender_id: int
    chat_id: int
    client_id: str
    text: str | None
    reply_to: int | None
    forward_of: int | None
    hash: bytes
    future: asyncio.Future[Sent] = field(repr=False)
    media_ids: tuple[int, ...] = ()


class MessageService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        updates: UpdateLog,
        purge: Purger,
        *,
        files: Files,
        max_batch: int = 256,
    ) -> None:
        self.purge = purge
        self.files = files
        self.db = db
        self.settings = settings
        self.clock = clock
        self.updates = updates
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_SendRequest] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # -- sending -------------------------------------------------------------------------------

    def check_text(self, text: str | None, *, required: bool) -> str | None:
        if text is None:
            if required:
                raise InvalidInput("A message needs text.", code="empty_message")
            return None
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("A message cannot be empty.", code="empty_message")
        if "\x00" in text or not _encodable(text):
            # The HTTP door refuses these already; the WebSocket door does not parse text, and
            # PostgreSQL cannot store NUL: one such frame must not fail a whole batch.
            raise InvalidInput(
                "Text cannot contain NUL characters or invalid Unicode.", code="invalid_text"
            )
        if len(text) > self.settings.message_max_length:
            raise InvalidInput(
                f"A message has at most {self.settings.message_max_length} characters.",
                code="message_too_long",
            )
        return text

    async def send(
        self,
        caller: Caller,
        chat_id: int,
        *,
        client_id: str,
        text: str | None,
        reply_to: int | None = None,
        forward_of: int | None = None,
        media_ids: Sequence[int] | None = None,
    ) -> Sent:
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise InvalidInput(
                "client_id is 1-64 characters of letters, digits and . _ : -",
                code="invalid_client_id",
            )
        if not _is_id(chat_id):
            raise NotFound("No such chat.", code="chat_not_found")
        if reply_to is not None and not _is_id(reply_to):
            raise InvalidInput("reply_to is not a message of this chat.", code="invalid_reply_to")
        if forward_of is not None and not _is_id(forward_of):
            raise NotFound("No such message to forward.", code="message_not_found")
        media = self.check_media_ids(media_ids)
        if media and isinstance(text, str) and not text.strip():
            text = None  # a file needs no caption
        text = self.check_text(text, required=forward_of is None and not media)
        request = _SendRequest(
            caller.user_id,
            chat_id,
            client_id,
            text,
            reply_to,
            forward_of,
            content_hash(text, reply_to, forward_of, media),
            asyncio.get_running_loop().create_future(),
            media,
        )
        # A client that went away leaves nobody to read a refusal: read it here, so asyncio
        # does not log "exception was never retrieved" for a send that was simply refused.
        request.future.add_done_callback(_consume)
        if self._task is None:
            self.start()
        await self._queue.put(request)
        # Shielded: a client that goes away does not cancel a send others share a commit with.
        return await asyncio.shield(request.future)

    def check_media_ids(self, media_ids: Sequence[int] | None) -> tuple[int, ...]:
        """Ids of uploads, each once, at most ``media_per_message`` (whose they are is checked
        with the batch)."""
        if media_ids is None:
            return ()
        if not isinstance(media_ids, list | tuple) or not all(_is_id(i) for i in media_ids):
            raise InvalidInput("media_ids is a list of media ids.", code="invalid_media_ids")
        if len(set(media_ids)) != len(media_ids):
            raise InvalidInput("A file is attached at most once.", code="duplicate_media")
        if len(media_ids) > self.settings.media_per_message:
            raise InvalidInput(
                f"A message carries at most {self.settings.media_per_message} files.",
                code="too_many_media",
            )
        return tuple(media_ids)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="message-writer")

    async def stop(self) -> None:
        """Stop the writer. Sends still waiting are refused (their clients retry with the same
        ``client_id``, so nothing is stored twice); none is left waiting for ever."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            _fail(self._queue.get_nowait(), RuntimeError("the server is stopping"))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results, updates, frames = await self._commit_isolating(batch)
            except asyncio.CancelledError:
                # Stopping mid-commit: whether it committed is unknown, so nobody is told it
                # did; a retry with the same client_id finds the message if it did.
                for request in batch:
                    _fail(request, RuntimeError("the server is stopping"))
                raise
            except Exception as exc:  # the database failed: nobody in this batch is acknowledged
                log.exception("message batch of %d failed", len(batch))
                for request in batch:
                    _fail(request, exc)
                raise_if_cancelling()
                continue
            for request, result in zip(batch, results, strict=True):
                if request.future.done():
                    continue
                if isinstance(result, Exception):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)
            try:
                await self.updates.publish(updates)
            except Exception:
                # The updates are in the log: devices catch up at their next resume. A failed
                # wake-up must not stop the writer, or every later send would wait for ever.
                log.exception("publishing %d updates failed", len(updates))
            await self._publish_frames(frames)

    async def _publish_frames(self, frames: _Frames) -> None:
        for chat_id, frame in frames:
            try:
                await self.updates.publish_channel(chat_id, frame)
            except Exception:
                # Subscribers see the gap in the channel's seq and read it from the history.
                log.exception("publishing a frame of channel %d failed", chat_id)

    async def _commit_isolating(
        self, batch: list[_SendRequest]
    ) -> tuple[list[Sent | Exception], list[Update], _Frames]:
        """Commit the batch; a request whose data the database refuses fails alone.

        With several server processes on one PostgreSQL, another process may store the same
        ``(sender, client_id)`` between this batch's idempotency read and its insert: the
        unique constraint refuses the insert and the whole transaction rolls back. A second
        attempt reads again and replays the stored message. Should it still fail, the requests
        are committed one by one and only the failing one is refused.
        """
        try:
            return await self._commit(batch)
        except _REQUEST_ERRORS:
            log.info("message batch of %d hit a constraint; retrying", len(batch), exc_info=True)
        try:
            return await self._commit(batch)
        except _REQUEST_ERRORS:
            if len(batch) == 1:
                raise
            log.warning("message batch of %d failed twice; committing one by one", len(batch))
        results: list[Sent | Exception] = []
        updates: list[Update] = []
        frames: _Frames = []
        for request in batch:
            try:
                (result,), done, framed = await self._commit([request])
            except _REQUEST_ERRORS as exc:
                log.exception("a message send was refused by the database")
                result, done, framed = exc, [], []
            results.append(result)
            updates.extend(done)
            frames.extend(framed)
        return results, updates, frames

    async def _commit(
        self, batch: list[_SendRequest]
    ) -> tuple[list[Sent | Exception], list[Update], _Frames]:
        """One transaction for the whole batch; a request refused here refuses only itself."""
        now = self.clock.now()
        # Short statements: on SQLite they run without a trip each to the database thread.
        async with self.db.write(quick=True) as conn:
            ctx = await _BatchContext.load(conn, batch)
            outcomes: list[Sent | PayamError | dict[str, Any] | int] = []
            in_batch: dict[tuple[int, str], int] = {}
            for i, r in enumerate(batch):
                key = (r.sender_id, r.client_id)
                if key in in_batch and key not in ctx.existing:
                    outcomes.append(in_batch[key])  # a concurrent retry inside this batch
                    continue
                outcome = ctx.check(r, now)
                if isinstance(outcome, dict):
                    in_batch[key] = i
                outcomes.append(outcome)
            new = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, dict)]
            ids = await store.insert_many(conn, [row for _, row in new])
            carried = {i: ctx.carried.get((row["chat_id"], row["seq"]), ()) for i, row in new}
            await chat_store.set_last_seqs(conn, ctx.changed_seqs())
            sent: dict[int, Sent] = {}
            pending: list[PendingUpdate | Fanout] = []
            frames: _Frames = []
            read_marks: dict[tuple[int, int], int] = {}
            for (i, row), message_id in zip(new, ids, strict=True):
                rendered = message_json(
                    MessageRow(
                        id=message_id, edited_at=None, deleted_at=None, media=carried[i], **row
                    )
                )
                sent[i] = Sent(rendered, created=True)
                read_marks[(row["chat_id"], row["sender_id"])] = row["seq"]
                if row["chat_id"] in ctx.channels:  # fan-out on read: no row per subscriber
                    frames.append(
                        (row["chat_id"], _frame(row["chat_id"], events.MESSAGE_NEW, rendered))
                    )
                    continue
                pending.append(
                    Fanout(
                        ctx.members[row["chat_id"]],
                        events.MESSAGE_NEW,
                        row["chat_id"],
                        message_id,
                        None,
                        rendered,
                    )
                )
            await _advance_read(conn, read_marks)
            # Who sent a message in a chat answered there: their profile shows to it (P3.2).
            await chat_store.show_profiles(
                conn, [k for k in read_marks if k[0] not in ctx.channels]
            )
            pending = [
                *await _bring_back(conn, ctx, {row["chat_id"] for _, row in new}, now),
                *pending,
            ]
            await store.add_forwards(conn, ctx.forwards_of([row for _, row in new]))
            # After add_forwards: a forward of a post locks the post's row before it references
            # the post's media, in the order a deletion of that post takes them (no deadlock).
            await media_store.attach(
                conn,
                [(mid, [m.id for m in carried[i]]) for (i, _), mid in zip(new, ids, strict=True)],
                now,
            )
            updates = await self.updates.record(conn, pending)
        results: list[Sent | Exception] = []
        for i, done in enumerate(outcomes):
            if isinstance(done, dict):
                results.append(sent[i])
            elif isinstance(done, int):  # same client_id as request number ``done``
                first = sent.get(done)
                same = (
                    first is not None
                    and batch[done].chat_id == batch[i].chat_id
                    and batch[done].hash == batch[i].hash
                )
                results.append(
                    Sent(first.message, created=False) if same and first else _conflict()
                )
            else:
                results.append(done)
        return results, updates, frames

    # -- reading -------------------------------------------------------------------------------

    async def history(
        self, caller: Caller, chat_id: int, *, before: int | None, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        limit = max(1, min(limit, 200))
        # Index lookups and one page of at most 200: on SQLite, on the event loop's thread.
        async with self.db.read(quick=True) as conn:
            member = await chat_store.member(conn, chat_id, caller.user_id)
            cleared = member.cleared_seq if member is not None else 0
            # A channel is public: anyone signed in reads its posts without subscribing.
            if member is None and not await chat_store.channels_among(conn, [chat_id]):
                raise NotFound("No such chat.", code="chat_not_found")
            floor = max(cleared, after or 0)
            rows = await store.page(
                conn,
                chat_id,
                viewer_id=caller.user_id,
                after_seq=floor,
                before_seq=before,
                limit=limit,
                newest_first=after is None,
                now=self.clock.now(),
            )
        return [message_json(m) for m in rows]

    async def _access_message(
        self, conn: AsyncConnection, caller: Caller, chat_id: int, message_id: int
    ) -> tuple[MessageRow, chat_store.MemberRow, chat_store.ChatRow]:
        member = await chat_store.member(conn, chat_id, caller.user_id)
        message = await store.get(conn, message_id)
        chat = await chat_store.get(conn, chat_id)
        if (
            member is None
            or chat is None
            or message is None
            or message.chat_id != chat_id
            or message.seq <= member.cleared_seq
            or ttl_store.expired(message.expires_at, self.clock.now())
        ):
            raise NotFound("No such message.", code="message_not_found")
        return message, member, chat

    async def edit(
        self, caller: Caller, chat_id: int, message_id: int, text: str
    ) -> dict[str, Any]:
        """Edit one's own message; every member sees it marked edited. The old text is removed
        as a deletion is (P5.3): from the row, the index and, at the next purge, the files."""
        checked = self.check_text(text, required=True)
        assert checked is not None
        now = self.clock.now()
        async with self.db.write() as conn:
            message, member, chat = await self._access_message(conn, caller, chat_id, message_id)
            if message.deleted_at is not None:
                raise NotFound("No such message.", code="message_not_found")
            if message.sender_id != caller.user_id:
                raise Forbidden("Only the author can edit a message.", code="not_author")
            if message.kind is not None:
                raise InvalidInput("A call's record cannot be edited.", code="not_editable")
            channel = chat.type == "channel"
            if channel and member.role not in ADMIN_ROLES:
                raise Forbidden("Only channel admins can edit posts.", code="not_admin")
            # Guarded by ``deleted_at IS NULL``: on PostgreSQL a deletion may commit between the
            # read above and this write, and an edit must never put text back into a tombstone.
            if not await store.edit(conn, message_id, checked, now):
                raise NotFound("No such message.", code="message_not_found")
            edited = await store.get(conn, message_id)
            if edited is None:
                raise NotFound("No such message.", code="message_not_found")
            rendered = message_json(edited)
            updates = await self.updates.record(
                conn,
                [
                    PendingUpdate(uid, events.MESSAGE_EDITED, chat_id, message_id, None, rendered)
                    for uid in ([] if channel else await _still_seeing(conn, chat_id, message))
                ],
            )
        await self.updates.publish(updates)
        if channel:
            frame = _frame(chat_id, events.MESSAGE_EDITED, rendered)
            await self._publish_frames([(chat_id, frame)])
        await self.purge.request()
        return rendered

    async def delete(
        self, caller: Caller, chat_id: int, message_id: int, *, for_everyone: bool
    ) -> None:
        """For everyone (author, or an admin of the group or channel): the text leaves the API,
        the index and the database file (P5.3). For me: hidden from the caller alone (P5.2).
        Deleting what is already deleted answers the same and changes nothing. A channel post
        deleted for everyone writes no update per subscriber: a channel frame tells those
        connected, and the history shows the tombstone to everyone else."""
        now = self.clock.now()
        async with self.db.write() as conn:
            message, member, chat = await self._access_message(conn, caller, chat_id, message_id)
            gone = {
                "id": message_id,
                "chat_id": chat_id,
                "seq": message.seq,
                "deleted": True,
                "text": None,
            }
            frames: _Frames = []
            freed: list[str] = []
            if for_everyone:
                may = message.sender_id == caller.user_id or (
                    chat.type in ("group", "channel") and member.role in ADMIN_ROLES
                )
                if not may:
                    raise Forbidden(
                        "Only the author or an admin can delete this for everyone.",
                        code="not_allowed",
                    )
                if not await store.tombstone(conn, [message_id], now):
                    return  # already a tombstone
                freed = await media_store.release(conn, [message_id])
                if chat.type == "channel":
                    frames.append((chat_id, _frame(chat_id, events.MESSAGE_DELETED, gone)))
                member_ids = (
                    []
                    if chat.type == "channel"
                    else (await chat_store.member_ids_of(conn, [chat_id]))[chat_id]
                )
                pending = [
                    PendingUpdate(uid, events.MESSAGE_DELETED, chat_id, message_id, None, gone)
                    for uid in member_ids
                ]
            else:
                if not await store.hide(conn, caller.user_id, message_id):
                    return  # already hidden
                pending = [
                    PendingUpdate(
                        caller.user_id, events.MESSAGE_HIDDEN, chat_id, message_id, None, gone
                    )
                ]
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)
        await self._publish_frames(frames)
        if for_everyone:
            await self.files.forget(freed)  # its files, unless another record names them
            await self.purge.request()

    async def record_call(
        self, chat_id: int, caller_id: int, record: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Store a call's record in its direct chat as a message of kind "call" (P5.1), sent
        by the caller, so it is in the history, the chat list, the unread counts and the
        exports, and is deleted and erased as any message is. Idempotent per call id; None
        when the chat or the caller is gone. ``record`` holds outcome and times only: SDP and
        ICE candidates are never stored (they carry addresses)."""
        now = self.clock.now()
        client_id = f"call:{record['id']}"
        async with self.db.write() as conn:
            chat = await chat_store.get(conn, chat_id, lock=True)
            if chat is None or chat.type != "direct":
                return None
            members = (await chat_store.member_ids_of(conn, [chat_id]))[chat_id]
            if caller_id not in members:
                return None
            earlier = await store.by_client_ids(conn, [(caller_id, client_id)])
            if earlier:
                return message_json(next(iter(earlier.values())))
            seq = chat.last_seq + 1
            row: dict[str, Any] = {
                "chat_id": chat_id,
                "seq": seq,
                "sender_id": caller_id,
                "client_id": client_id,
                "text": None,
                "content_hash": None,
                "reply_to": None,
                "forward_of": None,
                "forward_from_user_id": None,
                "created_at": now,
                "views": None,
                "forwards": None,
                "kind": "call",
                "call": json.dumps(record, separators=(",", ":")),
            }
            (message_id,) = await store.insert_many(conn, [row])
            await chat_store.set_last_seqs(conn, {chat_id: seq})
            await _advance_read(conn, {(chat_id, caller_id): seq})
            rendered = message_json(
                MessageRow(id=message_id, edited_at=None, deleted_at=None, **row)
            )
            updates = await self.updates.record(
                conn,
                [
                    PendingUpdate(uid, events.MESSAGE_NEW, chat_id, message_id, None, rendered)
                    for uid in members
                ],
            )
        await self.updates.publish(updates)
        return rendered

    async def mark_read(self, caller: Caller, chat_id: int, seq: int) -> int:
        """Move the caller's read marker forward (never back); members see a read receipt,
        except those the caller blocked or who blocked the caller. In a channel nobody sees
        anyone's marker: only the caller's own devices are told."""
        async with self.db.write() as conn:
            member = await chat_store.member(conn, chat_id, caller.user_id)
            chat = await chat_store.get(conn, chat_id)
            if chat is not None and member is None and chat.type == "channel":
                raise Forbidden(
                    "Subscribe to the channel to keep a read marker.", code="not_subscribed"
                )
            if member is None or chat is None:
                raise NotFound("No such chat.", code="chat_not_found")
            seq = min(max(0, seq), chat.last_seq)
            if seq <= member.read_seq:
                return member.read_seq
            await chat_store.update_member(conn, chat_id, caller.user_id, read_seq=seq)
            member_ids = (
                [caller.user_id]
                if chat.type == "channel"
                else (await chat_store.member_ids_of(conn, [chat_id]))[chat_id]
            )
            # Blocking silences read receipts, both ways.
            apart = await block_store.blocked_either_way(conn, caller.user_id, member_ids)
            member_ids = [m for m in member_ids if m not in apart]
            payload = {"user_id": caller.user_id, "read_seq": seq}
            updates = await self.updates.record(
                conn,
                [PendingUpdate(uid, events.READ, chat_id, None, payload) for uid in member_ids],
            )
        await self.updates.publish(updates)
        return seq

    async def search(self, caller: Caller, query: str, limit: int) -> list[dict[str, Any]]:
        query = query.strip()
        if not query:
            raise InvalidInput("Search for at least one word.", code="empty_query")
        if len(query) > limits.SEARCH_QUERY_MAX_LENGTH:
            raise InvalidInput(
                f"A search is at most {limits.SEARCH_QUERY_MAX_LENGTH} characters.",
                code="query_too_long",
            )
        async with self.db.read() as conn:
            rows = await store.search(
                conn, caller.user_id, query, limit=max(1, min(limit, 100)), now=self.clock.now()
            )
        return [message_json(m) for m in rows]

    async def render(self, caller: Caller, ids: list[int]) -> dict[int, dict[str, Any]]:
        async with self.db.read() as conn:
            return await render_messages(conn, caller.user_id, ids, now=self.clock.now())


@dataclass
class _BatchContext:
    """What a batch of sends needs to know, read with a fixed number of queries."""

    existing: dict[tuple[int, str], MessageRow]
    chats: dict[int, chat_store.ChatRow]
    # Every member of the batch's direct chats and groups (their updates are fanned out on
    # write); none of a channel's, only the role of each sender in it (fanned out on read).
    members: dict[int, list[int]]
    channels: set[int]
    roles: dict[tuple[int, int], str]
    blocked: set[tuple[int, int]]
    refs: dict[int, MessageRow]
    # (user, message) pairs where the user may see the message: a member, not cleared, not
    # hidden for them. Forwarding copies text, so it must not reach what the sender cannot see.
    ref_visible: set[tuple[int, int]]
    # The uploads named by the batch's media_ids (locked on PostgreSQL until the commit, so
    # no deletion frees one this batch attaches).
    media: dict[int, MediaRow] = field(default_factory=dict)
    next_seq: dict[int, int] = field(default_factory=dict)
    # What each new message carries, by (chat_id, seq).
    carried: dict[tuple[int, int], tuple[MediaRow, ...]] = field(default_factory=dict)
    # Direct chats whose other side deleted them, and who that is: a message stored in one
    # brings it back to them (``_bring_back``).
    returning: dict[int, int] = field(default_factory=dict)

    @classmethod
    async def load(cls, conn: AsyncConnection, batch: list[_SendRequest]) -> _BatchContext:
        # Chats first: on PostgreSQL this locks them (seq allocation), and the idempotency read
        # after the lock sees every send to them that another process committed meanwhile.
        chats = await chat_store.get_many(conn, {r.chat_id for r in batch})
        existing = await store.by_client_ids(conn, [(r.sender_id, r.client_id) for r in batch])
        channels = {cid for cid, chat in chats.items() if chat.type == "channel"}
        members = await chat_store.member_ids_of(conn, set(chats) - channels)
        returning = await _returning_peers(conn, batch, chats, members)
        for chat_id, peer in returning.items():
            members[chat_id] = [*members[chat_id], peer]
        roles = await chat_store.roles_among(
            conn, [(r.chat_id, r.sender_id) for r in batch if r.chat_id in channels]
        )
        refs = await store.get_many(
            conn, [i for r in batch for i in (r.reply_to, r.forward_of) if i is not None]
        )
        forwarded = [
            (r.sender_id, refs[r.forward_of])
            for r in batch
            if r.forward_of is not None and r.forward_of in refs
        ]
        return cls(
            existing=existing,
            chats=chats,
            members=members,
            channels=channels,
            roles=roles,
            blocked=await _blocked_senders(conn, batch, chats, members),
            refs=refs,
            ref_visible=await _visible_to(conn, forwarded),
            media=await media_store.get_many(
                conn, {i for r in batch for i in r.media_ids}, lock=True
            ),
            next_seq={cid: chat.last_seq for cid, chat in chats.items()},
            returning=returning,
        )

    def changed_seqs(self) -> dict[int, int]:
        return {c: s for c, s in self.next_seq.items() if s != self.chats[c].last_seq}

    def forwards_of(self, rows: list[dict[str, Any]]) -> Counter[int]:
        """How often each channel post was forwarded by these new rows (P10.1 counts)."""
        return Counter(
            row["forward_of"]
            for row in rows
            if row["forward_of"] is not None and self.refs[row["forward_of"]].forwards is not None
        )

    def check(  # noqa: PLR0911 (one return per refusal reads as the rule list it is)
        self, r: _SendRequest, now: float
    ) -> Sent | PayamError | dict[str, Any]:
        """The row to insert for ``r``, the stored message it repeats, or why not."""
        earlier = self.existing.get((r.sender_id, r.client_id))
        if earlier is not None:
            return _replay(earlier, r, now)
        chat = self.chats.get(r.chat_id)
        channel = r.chat_id in self.channels
        if channel:
            # Public: anyone may know the channel exists, but only its admins post in it.
            if self.roles.get((r.chat_id, r.sender_id)) not in ADMIN_ROLES:
                return Forbidden("Only channel admins can post.", code="not_admin")
        elif (
            chat is None
            or r.sender_id not in self.members.get(r.chat_id, ())
            or self.returning.get(r.chat_id) == r.sender_id  # left it; not back yet
        ):
            return NotFound("No such chat.", code="chat_not_found")
        if (r.chat_id, r.sender_id) in self.blocked:
            return Forbidden("You cannot message this user.", code="blocked")
        if r.reply_to is not None:
            reply = self.refs.get(r.reply_to)
            if (
                reply is None
                or reply.chat_id != r.chat_id
                or ttl_store.expired(reply.expires_at, now)
            ):
                return InvalidInput(
                    "reply_to is not a message of this chat.", code="invalid_reply_to"
                )
        media = tuple(m for i in r.media_ids if (m := self.media.get(i)) is not None)
        if len(media) != len(r.media_ids) or any(m.owner_id != r.sender_id for m in media):
            # Only one's own uploads: anyone else's is as unknown as a missing id.
            return NotFound("No such media.", code="media_not_found")
        text, forward_from = r.text, None
        if r.forward_of is not None:
            original = self.refs.get(r.forward_of)
            if (
                original is None
                or original.deleted_at is not None
                or ttl_store.expired(original.expires_at, now)  # gone for everyone (P5.3)
                or original.kind is not None  # a call's record is not content to pass on
                or (r.sender_id, original.id) not in self.ref_visible
            ):
                return NotFound("No such message to forward.", code="message_not_found")
            text = text if text is not None else original.text
            media = media or original.media  # a forward carries the original's files
            # A channel post's copy names no admin (render.message_json): ``forward_of``
            # leads to the post, and the post to its channel.
            if original.forwards is None:
                forward_from = original.forward_from_user_id or original.sender_id
        self.next_seq[r.chat_id] += 1
        if media:
            self.carried[(r.chat_id, self.next_seq[r.chat_id])] = media
        return {
            "chat_id": r.chat_id,
            "seq": self.next_seq[r.chat_id],
            "sender_id": r.sender_id,
            "client_id": r.client_id,
            "text": text,
            "content_hash": r.hash,
            "reply_to": r.reply_to,
            "forward_of": r.forward_of,
            "forward_from_user_id": forward_from,
            "created_at": now,
            # Counted on channel posts only (P10.1); every row has the keys (one executemany).
            "views": 0 if channel else None,
            "forwards": 0 if channel else None,
            # Fixed now by the chat's timer (P5.3); a later change of the timer leaves it.
            "expires_at": ttl_store.expires_at(chat.message_ttl if chat else None, now),
        }


def _replay(earlier: MessageRow, r: _SendRequest, now: float) -> Sent | PayamError:
    if earlier.chat_id != r.chat_id:
        return _conflict()
    if ttl_store.expired(earlier.expires_at, now):
        # A retry after the message disappeared learns that it was stored, not what it said
        # (P5.3): its place in the chat only, as a message deleted for the viewer.
        return Sent(gone_json(earlier), created=False)
    # No hash once edited or deleted (a hash of removed text is a trace of it): a retry of such
    # a client_id can only be told by its chat, and is answered with the message as it is now.
    if earlier.content_hash is None or earlier.content_hash == r.hash:
        return Sent(message_json(earlier), created=False)
    return _conflict()


def _conflict() -> Conflict:
    return Conflict(
        "This client_id was already used for a different message.", code="client_id_reused"
    )


async def _blocked_senders(
    conn: AsyncConnection,
    batch: list[_SendRequest],
    chats: dict[int, chat_store.ChatRow],
    members: dict[int, list[int]],
) -> set[tuple[int, int]]:
    """(chat, sender) pairs of direct chats where the other member blocked the sender."""
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    for r in batch:
        chat = chats.get(r.chat_id)
        if chat is None or chat.type != "direct":
            continue
        others = [u for u in members.get(r.chat_id, ()) if u != r.sender_id]
        if others:
            pairs[(others[0], r.sender_id)] = (r.chat_id, r.sender_id)
    found = await block_store.blocked_pairs(conn, list(pairs))
    return {pairs[pair] for pair in found}


async def _returning_peers(
    conn: AsyncConnection,
    batch: list[_SendRequest],
    chats: dict[int, chat_store.ChatRow],
    members: dict[int, list[int]],
) -> dict[int, int]:
    """Direct chats of the batch that the sender is in and the other side left (deleted), with
    that other side, whose account still exists."""
    found: dict[int, int] = {}
    for r in batch:
        chat = chats.get(r.chat_id)
        present = members.get(r.chat_id, [])
        if chat is None or chat.type != "direct" or not chat.direct_key or present != [r.sender_id]:
            continue
        low, high = (int(x) for x in chat.direct_key.split(":"))
        peer = high if low == r.sender_id else low
        if peer != r.sender_id and await user_store.get(conn, peer) is not None:
            found[r.chat_id] = peer
    return found


async def _bring_back(
    conn: AsyncConnection, ctx: _BatchContext, stored_in: set[int], now: float
) -> list[PendingUpdate]:
    """Put the other side of a direct chat they deleted back in it when a message was stored
    there (as every messenger does): without the history that went when they left, with the
    new messages unread, and a ``chat_new`` before them. Their profile shows only once they
    answer (P3.2)."""
    pending = []
    for chat_id, peer in sorted(ctx.returning.items()):
        if chat_id not in stored_in:
            continue
        last = ctx.chats[chat_id].last_seq  # before this batch
        await chat_store.add_members(
            conn, chat_id, [(peer, "member")], now=now, start_seq=last, cleared_seq=last
        )
        pending.append(PendingUpdate(peer, events.CHAT_NEW, chat_id, None, {"chat_type": "direct"}))
    return pending


async def _visible_to(
    conn: AsyncConnection, pairs: list[tuple[int, MessageRow]]
) -> set[tuple[int, int]]:
    """The (user, message id) pairs of ``pairs`` where the user sees the message now: as a
    member, or as anyone signed in when it is a channel's post (channels are public)."""
    if not pairs:
        return set()
    wanted = {(m.chat_id, uid) for uid, m in pairs}
    # Two IN lists, not ``(chat_id, user_id) IN (...)``: SQLite scans the whole table for the
    # latter, and a forwarded channel post may sit in a channel of a million subscribers.
    rows = await conn.execute(
        select(chat_members.c.chat_id, chat_members.c.user_id, chat_members.c.cleared_seq).where(
            chat_members.c.chat_id.in_(sorted({c for c, _ in wanted})),
            chat_members.c.user_id.in_(sorted({u for _, u in wanted})),
        )
    )
    cleared = {
        (row.chat_id, row.user_id): row.cleared_seq
        for row in rows
        if (row.chat_id, row.user_id) in wanted
    }
    public = await chat_store.channels_among(conn, {m.chat_id for _, m in pairs})
    hidden = await store.hidden_among(conn, [(uid, m.id) for uid, m in pairs])
    return {
        (uid, m.id)
        for uid, m in pairs
        if ((m.chat_id, uid) in cleared or m.chat_id in public)
        and m.seq > cleared.get((m.chat_id, uid), 0)
        and (uid, m.id) not in hidden
    }


async def _still_seeing(conn: AsyncConnection, chat_id: int, message: MessageRow) -> list[int]:
    """Members who still see ``message``: an edit is news to them only. Whoever hid it or
    cleared the history past it must not have the new text pushed to their devices."""
    members = await chat_store.members(conn, chat_id)
    hidden = await store.hidden_among(conn, [(m.user_id, message.id) for m in members])
    return [
        m.user_id
        for m in members
        if m.cleared_seq < message.seq and (m.user_id, message.id) not in hidden
    ]


async def _advance_read(conn: AsyncConnection, marks: dict[tuple[int, int], int]) -> None:
    """A sender has read everything up to their own message."""
    await chat_store.advance_read(conn, marks)


def _frame(chat_id: int, kind: str, message: dict[str, Any]) -> dict[str, Any]:
    """A live frame for a channel's connected subscribers (docs/realtime.md)."""
    return {"type": "channel", "chat_id": chat_id, "kind": kind, "message": message}


def _consume(future: asyncio.Future[Sent]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(request: _SendRequest, exc: Exception) -> None:
    if not request.future.done():
        request.future.set_exception(exc)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
