"""The export (P11.1): everything the server holds about the caller, in one zip.

What goes in is read off the data map, not kept by hand: every table annotated with a
``subject`` (``storage/privacy.py``) contributes the rows that name the caller, with every
column. ``export.json`` has the layout documented in docs/privacy.md ("The export");
``export.html`` is the same for people; ``media/`` holds the files the user uploaded (their
profile photo, and what they uploaded for messages and posts), each once. The zip is built
in an unnamed temporary file and streamed (``export_file``), never held in memory. Two
things are shown as withheld rather than copied: credentials (a token's or code's hash opens
nothing for the user and would only be one more copy of a secret), and the keyed hashes of
rate-limit buckets, which cannot be tied to anyone without the secret.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from payam.adapters.blobs import BlobStore
from payam.domain.clock import Clock
from payam.domain.errors import NotFound
from payam.domain.events import iso
from payam.domain.models import Caller
from payam.storage import media as media_store
from payam.storage import privacy
from payam.storage import ttl as ttl_store
from payam.storage.data_map import personal_fields, personal_files
from payam.storage.database import Database
from payam.storage.tables import metadata, users

FORMAT = "payam-export/1"
WITHHELD = "(withheld: a credential)"
CONTACTS_NOTE = (
    "The numbers you uploaded are not stored: only their keyed hashes (HMAC-SHA256 with the "
    "server's secret), used to find which of them are on payam. These are the hashes."
)
CHANNEL_NOTE = (
    "A public channel you subscribe to: its handle, description and your subscription. Its "
    "posts are public and not data about you, so only the posts you wrote in it are listed."
)
# Tables whose rows are top-level sections of export.json under the table's own name.
TOP_LEVEL = ("devices", "access_log", "consents", "notices", "partner_objections", "admin_access")
# Tables with a section of their own shape; every other subject table is under other_records.
SHAPED = {"users": "account", "contacts": "contacts", "chats": "chats", "chat_members": "chats"}
NOT_INCLUDED = {
    "rate_limits.key": "keyed hashes of ids, numbers and addresses; they cannot be tied to you "
    "without the server's secret and are gone when the limit's bucket refills",
    "view_marks.mark": "keyed hashes of (post or channel, viewer) under a random salt of the "
    "day, which say only that a view was counted already (P10.1); the server cannot find "
    "yours without computing them for every post, and they are dropped with their salt after "
    "the view-counting window",
    "sms-outbox.jsonl": "the texts sent to your number by the default SMS backend are sign-in "
    "codes (credentials, not copied); each line is kept sms_outbox_retention_hours and erased "
    "with your account",
}


def _value(table: str, column: str, value: Any) -> Any:
    info = metadata.tables[table].c[column].info
    if info.get("personal") == "credential" and value is not None:
        return WITHHELD
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and (column.endswith("_at") or column in {"at", "until"}):
        return iso(value)
    return value


def _clean(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(table, k, v) for k, v in row.items()}


# Where each table's rows are in export.json; every other subject table is under other_records.
_PREFIX = {
    "users": "account.",
    "chats": "chats[].chat.",
    "chat_members": "chats[].membership.",
    "messages": "messages_sent[].",
    **{name: f"{name}[]." for name in TOP_LEVEL},
}


def _where(table: str, column: str) -> str | None:
    """Where a personal field appears in export.json (a path, ``[]`` for each list item)."""
    if f"{table}.{column}" in NOT_INCLUDED:
        return None
    if table == "contacts":
        return {"phone_hash": "contacts.hashes[]", "user_id": "user_id"}.get(column)
    return _PREFIX.get(table, f"other_records.{table}[].") + column


class ExportService:
    def __init__(
        self, db: Database, clock: Clock, blobs: BlobStore, work_dir: Path | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.blobs = blobs
        # Where exports are built (unnamed files); None: the system's temporary directory.
        self.work_dir = work_dir

    async def collect(self, user_id: int) -> dict[str, Any]:
        """export.json for ``user_id`` as a dict (one read transaction: a consistent copy)."""
        now = self.clock.now()
        async with self.db.read() as conn:
            account = (
                (await conn.execute(users.select().where(users.c.id == user_id))).mappings().first()
            )
            if account is None:
                raise NotFound("The account no longer exists.", code="user_not_found")
            phone_hash: bytes = account["phone_hash"]
            data: dict[str, Any] = {
                "format": FORMAT,
                "generated_at": iso(self.clock.now()),
                "user_id": user_id,
                "account": _clean("users", dict(account)),
            }
            others: dict[str, list[dict[str, Any]]] = {}
            for subject in privacy.subject_tables():
                name = subject.table.name
                if name in SHAPED:
                    continue
                rows = [
                    _clean(name, r)
                    for r in await privacy.rows_of(conn, subject, user_id, phone_hash)
                    # An expired message is gone for its sender too (P5.3).
                    if not (name == "messages" and ttl_store.expired(r["expires_at"], now))
                ]
                if name in TOP_LEVEL:
                    data[name] = rows
                elif name == "messages":
                    data["messages_sent"] = rows
                else:
                    others[name] = rows
            contacts_subject = privacy.subject_of(metadata.tables["contacts"])
            assert contacts_subject is not None
            hashes = [
                r["phone_hash"].hex()
                for r in await privacy.rows_of(conn, contacts_subject, user_id, None)
            ]
            data["contacts"] = {"count": len(hashes), "hashes": hashes, "note": CONTACTS_NOTE}
            chats = []
            for found in await privacy.memberships_with_chats(conn, user_id):
                chat, member = found["chat"], found["membership"]
                # A channel's posts are public content, not its readers' data: only the
                # user's own posts in it (an owner's or admin's) are theirs.
                channel = chat["type"] == "channel"
                visible = await privacy.visible_messages(
                    conn, user_id, chat["id"], member["cleared_seq"], own_only=channel, now=now
                )
                shown = dict(chat)
                if channel and chat["created_by"] != user_id:
                    # A channel's readers do not see its staff (P5.1): who made it is the
                    # maker's data, not a subscriber's.
                    shown["created_by"] = None
                entry = {
                    "chat": _clean("chats", shown),
                    "membership": _clean("chat_members", member),
                    "messages": [_clean("messages", m) for m in visible],
                }
                if channel:
                    entry["note"] = CHANNEL_NOTE
                chats.append(entry)
            data["chats"] = chats
            data["disclosures"] = [
                _clean("disclosure_log", r) for r in await privacy.disclosures_for(conn, user_id)
            ]
            uploads = await media_store.of_owner(conn, user_id)
        data["other_records"] = others
        data["media"] = [
            {"field": f"users.{column}", "file": f"media/{account[column]}"}
            for column in ("photo_key", "photo_thumb_key")
            if account[column]
        ] + [
            # Files uploaded for messages and posts (their rows are in other_records.media).
            {"field": f"media.{column}", "media_id": row.id, "file": f"media/{key}"}
            for row in uploads
            for column, key in (("blob_key", row.blob_key), ("thumb_key", row.thumb_key))
            if key
        ]
        data["data_map"] = [
            {
                "field": f"{f.table}.{f.column}",
                "category": f.category,
                "purposes": list(f.purposes),
                "retention": f.retention,
                "in_export": _where(f.table, f.column),
            }
            for f in personal_fields()
        ] + [
            {
                "field": f"{f.file}:{f.field}",
                "category": f.category,
                "purposes": list(f.purposes),
                "retention": f.retention,
                "in_export": None,
            }
            for f in personal_files()
        ]
        data["not_included"] = NOT_INCLUDED
        return data

    async def export_file(self, caller: Caller) -> ExportFile:
        """The zip the user downloads (export.json, export.html, media/), built in a temporary
        file and never whole in memory: every write runs in a worker thread, a file's bytes
        go from the blob store to the zip a chunk at a time, so memory stays bounded by the
        records of export.json whatever the files weigh, and the event loop stays free. A file
        named twice (the same bytes uploaded twice, or a photo also sent as media) is written
        once; both entries of ``media`` name it."""
        data = await self.collect(caller.user_id)
        # Unnamed (unlinked at once where the system allows it): nothing is left by a crash.
        if self.work_dir is not None:
            await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(_temporary_file, self.work_dir)
        try:
            archive = zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED)
            document = await asyncio.to_thread(
                json.dumps, data, ensure_ascii=False, indent=2, default=str
            )
            await asyncio.to_thread(archive.writestr, "export.json", document)
            del document
            page = await asyncio.to_thread(render_html, data)
            await asyncio.to_thread(archive.writestr, "export.html", page)
            del page
            written: set[str] = set()
            for item in data["media"]:
                name = item["file"]
                if name in written:
                    continue
                written.add(name)
                await self._add_file(archive, name, name.removeprefix("media/"))
            await asyncio.to_thread(archive.close)
            size = await asyncio.to_thread(handle.seek, 0, io.SEEK_END)
            await asyncio.to_thread(handle.seek, 0)
        except BaseException:
            handle.close()
            raise
        return ExportFile(handle, size)

    async def _add_file(self, archive: zipfile.ZipFile, name: str, key: str) -> None:
        blob = await self.blobs.open(key)
        if blob is None:  # erased meanwhile by a deletion that committed after collect()
            return
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        # Photos and media are compressed already: stored as they are, without a second pass.
        info.compress_type = zipfile.ZIP_STORED
        entry = await asyncio.to_thread(archive.open, info, "w", force_zip64=blob.size > _ZIP32)
        try:
            async for chunk in self.blobs.read_range(key, 0, blob.size):
                await asyncio.to_thread(entry.write, chunk)
        finally:
            await asyncio.to_thread(entry.close)

    async def export_zip(self, caller: Caller) -> bytes:
        """The whole zip as bytes: for small exports and tests only (the route streams)."""
        export = await self.export_file(caller)
        try:
            return b"".join([chunk async for chunk in export.chunks()])
        finally:
            export.close()


def _temporary_file(folder: Path | None) -> IO[bytes]:
    return tempfile.TemporaryFile("w+b", dir=folder)


# Entries get a fixed time: the zip tells nothing the data does not.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Past this size an entry needs zip64 headers, which must be chosen before its bytes.
_ZIP32 = 0x7FFF_0000
CHUNK = 1024 * 1024


class ExportFile:
    """A finished export in an unnamed temporary file: its size, and its bytes in chunks read
    off the event loop. ``close`` frees the file (``chunks`` does at its end, too)."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle = handle
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self.handle.read, CHUNK):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.handle.close()


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p><em>nothing held</em></p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render_html(data: dict[str, Any]) -> str:
    """A readable page of the same data (every value escaped)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>Your payam data</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;text-align:left;vertical-align:top}</style>",
        "</head><body><h1>Everything payam holds about you</h1>",
        f"<p>Generated {html.escape(str(data['generated_at']))}.</p>",
        "<h2>Account</h2>",
        _table([data["account"]]),
        "<h2>Uploaded contacts</h2>",
        f"<p>{html.escape(data['contacts']['note'])}</p>",
        f"<p>{data['contacts']['count']} hashes held.</p>",
    ]
    for name in TOP_LEVEL:
        parts += [f"<h2>{html.escape(name.replace('_', ' '))}</h2>", _table(data[name])]
    parts += ["<h2>Messages you sent</h2>", _table(data["messages_sent"]), "<h2>Chats</h2>"]
    for chat in data["chats"]:
        title = chat["chat"].get("title") or f"chat {chat['chat']['id']}"
        parts += [
            f"<h3>{html.escape(str(title))}</h3>",
            _table([chat["membership"]]),
            _table(chat["messages"]),
        ]
    parts += ["<h2>Shares with partners</h2>", _table(data["disclosures"])]
    for name, rows in data["other_records"].items():
        parts += [f"<h2>{html.escape(name.replace('_', ' '))}</h2>", _table(rows)]
    parts += ["<h2>Files</h2>", _table(data["media"])]
    parts += ["<h2>The data map</h2>", _table(data["data_map"]), "</body></html>"]
    return "\n".join(parts)
