"""Flat at scale (issue 12): generate a big database through the storage layer, then measure
what users feel on it (a send, the chat list of a user with 500 chats, a history page, a
search, a contact upload of 1,000 numbers, start-up with migrations).

The generator writes with the tables of ``payam.storage.tables`` in large transactions of
``executemany`` inserts (no HTTP, no service): N users with keyed phone hashes (the same HMAC
the contacts service matches uploads against, ``domain/keys.py``), direct chats, groups and
channels with members, M messages (SQLite's FTS rows come from the messages triggers), and
stored address books. User 1 has 500 chats (300 direct, 200 groups). The measurements call the
services in this process, as ``bench/send_path.py`` does: CPU is this process's
(``time.process_time``), which on SQLite includes the database's thread; on PostgreSQL the
server's own CPU is not counted. Usage:

    python -m bench.scale [--users 10000] [--messages 100000] [--groups 1000]
                          [--postgres URL] [--explain [--analyze]] [--keep DIR | --reuse DIR]

Without ``--postgres`` the database is a SQLite file in a temporary directory; with it, a fresh
schema that is dropped afterwards. ``--keep DIR`` generates into DIR instead and keeps it: the
SQLite file, or for PostgreSQL the schema (its name is printed), and in both cases the
server secret the phone hashes were keyed with and ``scale.json`` (what was generated, where).
``--reuse DIR`` generates nothing: it migrates that database to head and measures it, so the
same big database can be measured again with newer code (``--reuse-schema NAME`` names a
PostgreSQL schema kept without a DIR's ``scale.json``; ``--postgres`` then gives the URL).

Generation on SQLite runs with ``synchronous=OFF``, a 1 GiB page cache and rare WAL
checkpoints, and fills the search index with one FTS5 ``rebuild`` and ``optimize`` after the
messages instead of the insert trigger row by row (the trigger is put back as the migrations
made it); the measurements then run on a fresh connection with the server's own settings.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

from bench.messaging import machine
from payam.app import build_services
from payam.config import Settings
from payam.domain.clock import FakeClock
from payam.domain.models import Caller
from payam.services.container import Services
from payam.storage import migrate
from payam.storage.tables import chat_members, chats, contacts, messages, users

HERO = 1
HERO_DIRECT = 300
HERO_GROUPS = 200
TYPICAL = 2 + HERO_DIRECT  # the first user of the neighbours' direct chats: a few chats
CHUNK = 20_000
NOW = 1_780_000_000.0
YEAR = 365 * 86400.0
COMMON = ["salam", "khubi", "merci", "bale", "na", "farda", "emruz", "chetori", "kojayi"]
RARE_WORDS = 5000  # "w0000".."w4999": each is in about 0.1% of the messages


def phone(i: int) -> str:
    return f"+98912{i:07d}"


def stranger(j: int) -> str:
    """A number nobody registered."""
    return f"+98935{j:07d}"


def words(rng: random.Random) -> str:
    out = [rng.choice(COMMON) for _ in range(rng.randint(1, 3))]
    out += [f"w{rng.randrange(RARE_WORDS):04d}" for _ in range(rng.randint(2, 8))]
    rng.shuffle(out)
    return " ".join(out)


async def insert_chunks(services: Services, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with services.db.write() as conn:
            await conn.execute(insert(table), rows[start : start + CHUNK])


async def generate(services: Services, n_users: int, n_messages: int, n_groups: int) -> None:
    rng = random.Random(12)
    keys = services.auth
    t0 = time.perf_counter()

    async def timed(label: str, work: Awaitable[None]) -> None:
        started = time.perf_counter()
        await work
        print(f"  {label:34} {time.perf_counter() - started:7.1f} s", flush=True)

    # Users, in chunks (1M users' dicts at once would be a lot of memory).
    async def put_users() -> None:
        for start in range(1, n_users + 1, CHUNK):
            rows = [
                {
                    "id": i,
                    "phone": phone(i),
                    "phone_hash": keys.phone_hash(phone(i)),
                    "name": f"user {i}",
                    "created_at": NOW - YEAR,
                    "updated_at": NOW - YEAR,
                }
                for i in range(start, min(n_users + 1, start + CHUNK))
            ]
            async with services.db.write() as conn:
                await conn.execute(insert(users), rows)

    await timed(f"{n_users:,} users", put_users())

    # Chats and their members: user 1's 300 direct chats, other direct chats between
    # neighbours, groups (8 members) and channels (30 subscribers); user 1 in 200 groups.
    members: dict[int, list[int]] = {}
    chat_rows: list[dict[str, Any]] = []
    chat_id = 0

    def add_chat(kind: str, people: list[int], **extra: Any) -> None:
        nonlocal chat_id
        chat_id += 1
        members[chat_id] = people
        chat_rows.append(
            {
                "id": chat_id,
                "type": kind,
                "created_by": people[0],
                "created_at": NOW - YEAR,
                "member_count": len(people),
                "title": extra.get("title"),
                "direct_key": extra.get("direct_key"),
                "handle": extra.get("handle"),
                "handle_key": extra.get("handle_key"),
            }
        )

    for other in range(2, 2 + HERO_DIRECT):
        add_chat("direct", [HERO, other], direct_key=f"{HERO}:{other}")
    for a in range(2 + HERO_DIRECT, n_users, 2):
        if a > n_users // 2:
            break
        add_chat("direct", [a, a + 1], direct_key=f"{a}:{a + 1}")
    n_direct = chat_id
    for g in range(n_groups):
        if g % 5 == 4:
            owner = rng.randint(2, n_users)
            subs = {owner} | {rng.randint(2, n_users) for _ in range(29)}
            people = [owner, *sorted(subs - {owner})]
            handle = f"chan{g}"
            add_chat("channel", people, title=f"channel {g}", handle=handle, handle_key=handle)
        else:
            people_set = {rng.randint(2, n_users) for _ in range(8)}
            if g < HERO_GROUPS * 5 // 4 and g % 5 != 4:
                people_set.add(HERO)
            add_chat("group", sorted(people_set), title=f"group {g}")
    hero_chats = [c for c, p in members.items() if HERO in p]
    history_chat = hero_chats[HERO_DIRECT]  # the first of user 1's groups: the busiest chat

    # Messages: each chat gets some, user 1's busiest group 1% of all; seqs per chat.
    ids = list(members)
    weights = [1.0] * len(ids)
    weights[ids.index(history_chat)] = 0.01 * len(ids) / 0.99
    assigned = rng.choices(ids, weights, k=n_messages)
    last_seq = dict.fromkeys(ids, 0)
    for c in assigned:
        last_seq[c] += 1
    for row in chat_rows:
        row["last_seq"] = last_seq[row["id"]]
    await timed(
        f"{len(chat_rows):,} chats ({n_direct:,} direct)", insert_chunks(services, chats, chat_rows)
    )
    member_rows: list[dict[str, Any]] = []
    for c, people in members.items():
        kind = chat_rows[c - 1]["type"]
        for k, user in enumerate(people):
            # Most have read everything; a few messages wait in some chats.
            unread = rng.choice((0, 0, 0, 1, 3)) if last_seq[c] else 0
            member_rows.append(
                {
                    "chat_id": c,
                    "user_id": user,
                    "role": "owner" if k == 0 and kind != "direct" else "member",
                    "joined_at": NOW - YEAR,
                    "read_seq": max(0, last_seq[c] - unread),
                    "shows_profile": True,
                }
            )
    await timed(
        f"{len(member_rows):,} memberships", insert_chunks(services, chat_members, member_rows)
    )
    del member_rows

    async def put_messages() -> None:
        seqs = dict.fromkeys(ids, 0)
        step = YEAR / max(1, n_messages)
        for start in range(0, n_messages, CHUNK):
            rows = []
            for k in range(start, min(n_messages, start + CHUNK)):
                c = assigned[k]
                seqs[c] += 1
                people = members[c]
                sender = people[0] if chat_rows[c - 1]["type"] == "channel" else rng.choice(people)
                rows.append(
                    {
                        "id": k + 1,
                        "chat_id": c,
                        "seq": seqs[c],
                        "sender_id": sender,
                        "client_id": f"g{k}",
                        "text": words(rng),
                        "created_at": NOW - YEAR + k * step,
                    }
                )
            async with services.db.write() as conn:
                await conn.execute(insert(messages), rows)

    async with bulk_search_index(services):
        await timed(f"{n_messages:,} messages", put_messages())

    # Stored address books: users 2.. hold 20 hashes each (half of registered numbers), as
    # many as 1 per user over the first fifth of the users.
    async def put_contacts() -> None:
        holders = range(2, 2 + max(1, n_users // 5))
        rows: list[dict[str, Any]] = []
        for u in holders:
            book = {rng.randint(1, n_users) for _ in range(10)}
            hashes = {keys.phone_hash(phone(i)) for i in book}
            hashes |= {keys.phone_hash(stranger(rng.randrange(10**7))) for _ in range(10)}
            rows += [{"user_id": u, "phone_hash": h, "created_at": NOW - YEAR} for h in hashes]
            if len(rows) >= CHUNK:
                async with services.db.write() as conn:
                    await conn.execute(insert(contacts), rows)
                rows = []
        if rows:
            async with services.db.write() as conn:
                await conn.execute(insert(contacts), rows)

    await timed("address books (20 hashes each)", put_contacts())
    if services.db.is_sqlite:
        async with services.db.write() as conn:
            await conn.execute(text("ANALYZE"))
    else:
        async with services.db.engine.begin() as conn:
            # Ids were given explicitly: move the sequences past them for the sends to come.
            for table in ("users", "chats", "messages"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            await conn.execute(text("ANALYZE"))
    print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    typical_chats = sum(1 for p in members.values() if TYPICAL in p)
    print(f"  user {TYPICAL} is in {typical_chats} chats", flush=True)
    BENCH_STATE.update(history_chat=history_chat, hero_chats=len(hero_chats), n_users=n_users)


BENCH_STATE: dict[str, Any] = {}
FTS_INSERT_TRIGGER = "messages_fts_insert"


@asynccontextmanager
async def bulk_search_index(services: Services) -> AsyncIterator[None]:
    """SQLite: insert the messages without the FTS insert trigger, then index them all with one
    ``rebuild`` (the same index, built in one pass) and put the trigger back exactly as the
    migrations created it (its SQL is read from ``sqlite_master``). PostgreSQL: nothing to do
    (its search index is a GIN index on ``messages`` itself)."""
    if not services.db.is_sqlite:
        yield
        return
    async with services.db.write() as conn:
        trigger_sql = (
            await conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
                {"name": FTS_INSERT_TRIGGER},
            )
        ).scalar_one()
        await conn.execute(text(f"DROP TRIGGER {FTS_INSERT_TRIGGER}"))
    try:
        yield
        started = time.perf_counter()
        async with services.db.write() as conn:
            await conn.execute(text("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')"))
            # A rebuild leaves several large segments, which FTS5's automerge then merges a
            # little at every later write: at 10M each insert cost ~200 µs instead of ~19 until
            # it was done. A server's index, grown message by message, carries no such backlog;
            # one 'optimize' (seconds) leaves one segment (docs/benchmarks.md).
            await conn.execute(text("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"))
        print(f"  {'search index (FTS5 rebuild)':34} {time.perf_counter() - started:7.1f} s")
    finally:
        async with services.db.write() as conn:
            await conn.execute(text(trigger_sql))


async def check_search_index(services: Services) -> None:
    """SQLite: a word's FTS matches are exactly the messages whose text holds it (one scan of
    ``messages``; a rebuilt index that missed rows would fail this)."""
    if not services.db.is_sqlite:
        return
    word = "w0037"
    async with services.db.read() as conn:
        indexed = (
            await conn.execute(
                text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH :w"), {"w": word}
            )
        ).scalar_one()
        counted = (
            await conn.execute(
                text("SELECT count(*) FROM messages WHERE ' ' || text || ' ' LIKE :w"),
                {"w": f"% {word} %"},
            )
        ).scalar_one()
        last_indexed = (
            await conn.execute(text("SELECT max(id) FROM messages_fts_docsize"))
        ).scalar_one()
        last = (await conn.execute(text("SELECT max(id) FROM messages"))).scalar_one()
    print(
        f"  search index check: {indexed:,} indexed matches of {word!r}, {counted:,} messages "
        f"hold it; last indexed row {last_indexed}, last message {last}"
    )
    if indexed != counted or last_indexed != last:
        raise SystemExit("the search index does not match the messages")


async def load_state(services: Services) -> None:
    """What ``measure`` needs, read from a database generated earlier (``--reuse``): user 1's
    first group (the busiest chat), its chat count, the number of users."""
    async with services.db.read() as conn:
        history_chat = (
            await conn.execute(
                text(
                    "SELECT min(m.chat_id) FROM chat_members m JOIN chats c ON c.id = m.chat_id"
                    " WHERE m.user_id = :hero AND c.type = 'group'"
                ),
                {"hero": HERO},
            )
        ).scalar_one()
        hero_chats = (
            await conn.execute(
                text("SELECT count(*) FROM chat_members WHERE user_id = :hero"), {"hero": HERO}
            )
        ).scalar_one()
        n_users = (await conn.execute(text("SELECT max(id) FROM users"))).scalar_one()
    BENCH_STATE.update(history_chat=history_chat, hero_chats=hero_chats, n_users=n_users)


async def later_than_before(services: Services) -> float:
    """A reused database holds the sends and uploads of earlier runs, stamped by their fake
    clocks: start after the newest of them, so the discovery budget (which the clock refills)
    and the message times keep moving forward."""
    async with services.db.read() as conn:
        newest_message = (
            await conn.execute(text("SELECT created_at FROM messages ORDER BY id DESC LIMIT 1"))
        ).scalar_one_or_none()
        newest_upload = (
            await conn.execute(
                text("SELECT max(created_at) FROM contacts WHERE user_id = :hero"), {"hero": HERO}
            )
        ).scalar_one_or_none()
    return max(NOW, newest_message or NOW, newest_upload or NOW) + 30 * 86400


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def latency(work: Callable[[int], Awaitable[Any]], repeat: int) -> str:
    """Wall p50 / p99 and the mean CPU of this process per call (on SQLite the database's
    thread is in it: the figure that holds when the machine is busy), in milliseconds."""
    await work(0)  # warm: statement caches, pages
    times = []
    cpu0 = time.process_time()
    for i in range(repeat):
        t0 = time.perf_counter()
        await work(i + 1)
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / repeat * 1e3
    p50, p99 = percentile(times, 50) * 1e3, percentile(times, 99) * 1e3
    return f"{p50:.1f} / {p99:.1f} (CPU {cpu:.1f})"


class Capture:
    """The SQL statements sent while it is on, for EXPLAIN."""

    def __init__(self, services: Services) -> None:
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        for engine in {services.db.reader, services.db.writer}:
            event.listen(engine.sync_engine, "before_cursor_execute", self.note)

    def note(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))


async def explain(
    services: Services, capture: Capture, label: str, work: Awaitable[Any], analyze: bool = False
) -> None:
    capture.statements, capture.on = [], True
    await work
    capture.on = False
    print(f"--- query plans of {label}")
    async with services.db.reader.connect() as conn:
        raw = await conn.get_raw_connection()
        seen = set()
        for statement, parameters in capture.statements:
            if statement in seen:
                continue
            seen.add(statement)
            print("  " + " ".join(statement.split())[:400])
            driver = raw.driver_connection
            assert driver is not None
            if services.db.is_sqlite:
                cursor = await driver.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                for row in await cursor.fetchall():
                    print(f"    {row[3]}")
            else:
                args = list(parameters) if parameters else []
                how = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN"
                for row in await driver.fetch(f"{how} {statement}", *args):
                    print(f"    {row[0]}")


async def measure(services: Services, args: argparse.Namespace) -> dict[str, str]:
    hero = Caller(HERO, 1)
    chat = BENCH_STATE["history_chat"]
    n_users = BENCH_STATE["n_users"]
    rng = random.Random(7)
    out: dict[str, str] = {}

    # A send: sequential, into user 1's busiest group; CPU of this process per send.
    sent = 0

    # Client ids new to this run: on a reused database, earlier runs' "b1".. would be repeats.
    run = secrets.token_hex(3)

    async def send(_i: int) -> None:
        nonlocal sent
        sent += 1
        await services.messages.send(
            hero, chat, client_id=f"b{run}-{sent}", text="salam w0001 bench"
        )

    await send(0)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    n = args.sends
    for i in range(n):
        await send(i)
    cpu = (time.process_time() - cpu0) / n * 1e3
    wall = (time.perf_counter() - wall0) / n * 1e3
    out["send"] = f"{cpu:.2f} ms CPU ({wall:.2f} ms wall)"

    out["chat list (100 of 500)"] = await latency(
        lambda _i: services.chats.list_chats(hero, 100), args.repeat
    )
    out["history page (50)"] = await latency(
        lambda _i: services.messages.history(hero, chat, before=None, after=None, limit=50),
        args.repeat,
    )
    out["search, rare word"] = await latency(
        lambda i: services.messages.search(hero, f"w{(i * 37) % RARE_WORDS:04d}", 20),
        args.repeat,
    )
    out["search, common word"] = await latency(
        lambda _i: services.messages.search(hero, "salam", 20), args.repeat
    )
    # The sends above put 200 "salam" messages in user 1's group: the newest matches of
    # "salam" are all theirs. "merci" is as common and none of its newest is theirs; and a
    # user with a few chats has almost none of any word's matches.
    out["search, common word not just sent"] = await latency(
        lambda _i: services.messages.search(hero, "merci", 20), args.repeat
    )
    typical = Caller(TYPICAL, 1)
    out[f"search, common word, user {TYPICAL} (few chats)"] = await latency(
        lambda _i: services.messages.search(typical, "merci", 20), args.repeat
    )
    out[f"search, rare word, user {TYPICAL} (few chats)"] = await latency(
        lambda i: services.messages.search(typical, f"w{(i * 37) % RARE_WORDS:04d}", 20),
        args.repeat,
    )

    # Contact upload: two books of 1,000 numbers (half registered), alternated, so each upload
    # replaces the stored book.
    books = [
        [phone(rng.randint(2, n_users)) for _ in range(500)]
        + [stranger(rng.randrange(10**7)) for _ in range(500)]
        for _ in range(2)
    ]
    # The discovery budget (P2.2) refills with time: a month passes between two uploads.
    clock = services.clock
    assert isinstance(clock, FakeClock)

    async def upload(i: int) -> None:
        clock.advance(30 * 86400)
        await services.contacts.replace(hero, books[i % 2])

    out["contacts, 1,000 numbers"] = await latency(upload, max(10, args.repeat // 5))

    if args.explain:
        capture = Capture(services)
        await explain(services, capture, "the chat list", services.chats.list_chats(hero, 100))
        await explain(
            services,
            capture,
            "a history page",
            services.messages.history(hero, chat, before=None, after=None, limit=50),
        )
        for who, word in ((HERO, "salam"), (HERO, "w0037"), (HERO, "merci"), (TYPICAL, "merci")):
            search = services.messages.search(Caller(who, 1), word, 20)
            label = f"a search for {word} by user {who}"
            await explain(services, capture, label, search, args.analyze)
    return out


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def file_size(tmp: Path) -> int:
    return sum(p.stat().st_size for p in tmp.glob("payam.sqlite3*"))


def settings_for(
    data_dir: Path, database_url: str | None, schema: str | None, *, generating: bool = False
) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "rate_limits_enabled": False}
    if database_url:
        values |= {"database_url": database_url, "database_schema": schema}
    elif generating:
        values["sqlite_synchronous"] = "OFF"  # a generator's file: a crash means generate again
    return Settings(**values)


def generator_pragmas(services: Services) -> None:
    """SQLite, while generating only: a 1 GiB page cache (the indexes of chat_members and
    messages are inserted into at random places) and a WAL checkpoint every ~400 MB instead of
    every 4 MB (hot pages are copied back once, not over and over)."""
    if not services.db.is_sqlite:
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA cache_size=-1048576")
        cursor.execute("PRAGMA wal_autocheckpoint=100000")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    event.listen(services.db.writer.sync_engine, "connect", on_connect)


def where(args: argparse.Namespace, tmp: Path) -> tuple[Path, str | None, str | None, bool]:
    """The data dir, the PostgreSQL URL and schema, and whether to generate."""
    if args.reuse:
        data_dir = Path(args.reuse)
        info_path = data_dir / "scale.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        url = args.postgres or info.get("postgres")
        schema = args.reuse_schema or info.get("schema")
        if url and not schema:
            raise SystemExit("--reuse on PostgreSQL needs the schema: --reuse-schema NAME")
        if not url and not (data_dir / "payam.sqlite3").exists():
            raise SystemExit(f"no payam.sqlite3 in {data_dir}")
        return data_dir, url, schema, False
    if args.reuse_schema:
        if not args.postgres:
            raise SystemExit("--reuse-schema needs --postgres URL")
        print(
            "warning: no --reuse DIR, so a new secret: the stored phone hashes match no upload "
            "(pass the DIR the schema was generated with)"
        )
        return tmp, args.postgres, args.reuse_schema, False
    schema = f"bench_{secrets.token_hex(4)}" if args.postgres else None
    if args.keep:
        data_dir = Path(args.keep)
        if (data_dir / "payam.sqlite3").exists() or (data_dir / "scale.json").exists():
            raise SystemExit(f"{data_dir} already holds a generated database: --reuse it")
        data_dir.mkdir(parents=True, exist_ok=True)
        return data_dir, args.postgres, schema, True
    return tmp, args.postgres, schema, True


async def main(args: argparse.Namespace) -> None:
    print("machine:", machine())
    print("load before:", loadavg())
    with tempfile.TemporaryDirectory(prefix="payam-scale-") as tmp_name:
        data_dir, url, schema, generating = where(args, Path(tmp_name))
        keep = generating and bool(args.keep)
        services = build_services(
            settings_for(data_dir, url, schema, generating=generating), clock=FakeClock(NOW)
        )
        drop_schema = generating and schema is not None and not keep
        try:
            if generating:
                generator_pragmas(services)
                if schema:
                    async with services.db.engine.begin() as conn:
                        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                await migrate.upgrade(services.db)
                if keep:
                    info = {
                        "users": args.users,
                        "messages": args.messages,
                        "groups": args.groups,
                        "postgres": url,
                        "schema": schema,
                        "state": "generating",
                    }
                    (data_dir / "scale.json").write_text(json.dumps(info, indent=1) + "\n")
                print(
                    f"generating {args.users:,} users, {args.messages:,} messages, "
                    f"{args.groups:,} groups and channels on {services.db.url.split(':')[0]}"
                    + (f" into {data_dir}" if keep and not schema else "")
                    + (f", schema {schema} (kept)" if keep and schema else ""),
                    flush=True,
                )
                started = time.perf_counter()
                await generate(services, args.users, args.messages, args.groups)
                await check_search_index(services)
                if keep:
                    info |= {
                        "state": "generated",
                        "generated_in_s": round(time.perf_counter() - started, 1),
                        "load_after": loadavg(),
                    }
                    (data_dir / "scale.json").write_text(json.dumps(info, indent=1) + "\n")
            else:
                print(
                    f"reusing {url.split(':')[0] + ' schema ' + str(schema) if url else data_dir}"
                )
            await services.db.dispose()  # SQLite: the last connection closing checkpoints the WAL
            if services.db.is_sqlite:
                print(f"  file: {file_size(data_dir) / 1e6:.0f} MB")

            # Start-up: a new process's services and the migrations (on a reused database,
            # the first upgrade may have work to do: it is timed apart).
            settings = settings_for(data_dir, url, schema)
            if not generating:
                t0 = time.perf_counter()
                services = build_services(settings)
                await migrate.upgrade(services.db)
                print(f"  migrations to head: {(time.perf_counter() - t0) * 1e3:.0f} ms")
                await load_state(services)
                clock_start = await later_than_before(services)
                await services.db.dispose()
            else:
                clock_start = NOW
            clock = FakeClock(clock_start)
            t0 = time.perf_counter()
            services = build_services(settings, clock=clock)
            await migrate.upgrade(services.db)
            startup = (time.perf_counter() - t0) * 1e3

            print("load while measuring:", loadavg())
            results = await measure(services, args)
            results["start-up + migrations"] = f"{startup:.0f} ms"
            await services.messages.stop()
            print("load after:", loadavg())
            sizes = f"{BENCH_STATE['n_users']:,} users"
            if generating:
                sizes = f"{args.messages:,} messages, {sizes}"
            print(f"\n| {sizes} | wall p50 / p99 (CPU mean) ms |")
            print("|---|---|")
            for name, value in results.items():
                print(f"| {name} | {value} |")
            if schema and (keep or not generating):
                print(f"kept: schema {schema} at {url}, secret and scale.json in {data_dir}")
            elif keep:
                print(f"kept: {data_dir / 'payam.sqlite3'}")
        finally:
            if drop_schema:
                async with services.db.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await services.db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--postgres", help="a postgresql+asyncpg:// URL; SQLite without it")
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--explain", action="store_true", help="print the reads' query plans")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: the searches' plans with EXPLAIN ANALYZE",
    )
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--keep", metavar="DIR", help="generate into DIR and keep the database")
    reuse.add_argument("--reuse", metavar="DIR", help="measure the database kept in DIR")
    parser.add_argument("--reuse-schema", metavar="NAME", help="measure this PostgreSQL schema")
    asyncio.run(main(parser.parse_args()))
