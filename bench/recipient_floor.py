"""What one update row per recipient costs SQLite itself, with no Python of payam's around it.

A group message writes, per member, a bump of the member's update counter and a row of the
member's update log (``storage/updates.py``), then commits. This script runs exactly those
statements with ``sqlite3`` on payam's own schema (migrated into a temporary directory, WAL,
``synchronous=FULL``, foreign keys and ``secure_delete`` on, as the server opens it), for
groups of each ``--members`` size, ``--sends`` messages each, after ``--warm`` messages that
give every member a log to append to. It prints CPU per message and per recipient, split into
the statements and the COMMIT (which writes every page the statements dirtied to the WAL).

    python -m bench.recipient_floor [--members 2,51,201,1001] [--sends 300] [--warm 50]

The figure to compare with ``python -m bench.send_cpu --members N`` (the whole send, in
process): the difference is payam's own cost per recipient; this is the floor under it while
a group message writes a row per member.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from payam.config import Settings
from payam.storage import migrate
from payam.storage.database import Database

BUMP = (
    "INSERT INTO update_counters (user_id, last_seq) VALUES (?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET last_seq = update_counters.last_seq + excluded.last_seq"
)
INSERT = (
    "INSERT INTO updates (user_id, seq, kind, chat_id, message_id, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def migrated(data_dir: Path) -> Path:
    settings = Settings(data_dir=data_dir)
    db = Database(settings.resolved_database_url())
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()
    return data_dir / "payam.sqlite3"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "secure_delete=ON", "synchronous=FULL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def one_message(conn: sqlite3.Connection, members: list[int], n: int) -> tuple[float, float]:
    """Write one group message's update rows; CPU seconds of (statements, commit)."""
    start = cpu()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(BUMP, [(u, 1) for u in members])
    marks = ",".join("?" * len(members))
    seqs = dict(
        conn.execute(
            f"SELECT user_id, last_seq FROM update_counters WHERE user_id IN ({marks})", members
        ).fetchall()
    )
    conn.executemany(
        INSERT, [(u, seqs[u], "message_new", 1, n, None, 1_000.0 + n) for u in members]
    )
    written = cpu()
    conn.execute("COMMIT")
    return written - start, cpu() - written


def measure(path: Path, members: int, sends: int, warm: int) -> tuple[float, float]:
    """Mean CPU ms per message (statements, commit) for a group of ``members``."""
    conn = connect(path)
    try:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM users").fetchone()[0]
        ids = list(range(first, first + members))
        conn.executemany(
            "INSERT INTO users (id, phone, phone_hash, name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, f"+98913{i:07d}", i.to_bytes(32, "big"), f"floor {i}", now, now) for i in ids],
        )
        conn.execute("COMMIT")
        for n in range(warm):
            one_message(conn, ids, n)
        statements = commit = 0.0
        for n in range(warm, warm + sends):
            s, c = one_message(conn, ids, n)
            statements += s
            commit += c
        return statements / sends * 1e3, commit / sends * 1e3
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", default="2,51,201,1001")
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--warm", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(x) for x in args.members.split(",")]
    print(
        f"command: python -m bench.recipient_floor --members {args.members} "
        f"--sends {args.sends} --warm {args.warm}"
    )
    results: list[tuple[int, float, float]] = []
    for members in sizes:
        with tempfile.TemporaryDirectory(prefix="payam-floor-") as tmp:
            path = asyncio.run(migrated(Path(tmp)))
            statements, commit = measure(path, members, args.sends, args.warm)
        results.append((members, statements, commit))
        print(
            f"  {members:>5} members: {statements + commit:7.3f} ms CPU per message "
            f"(statements {statements:.3f}, commit {commit:.3f})"
        )
    base_members, base_s, base_c = results[0]
    for members, statements, commit in results[1:]:
        extra = (statements + commit - base_s - base_c) / (members - base_members) * 1e3
        print(f"  per extra recipient, {base_members} to {members} members: {extra:.1f} µs")


if __name__ == "__main__":
    main()
