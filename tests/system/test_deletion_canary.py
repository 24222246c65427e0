"""Deletion is permanent on disk (issue 3 "Deletion is permanent"; P5.2, P5.3).

The real ``payam serve`` on SQLite, over real HTTP. Unique canary texts are written and then
removed in each way a user can remove text: a message deleted for everyone, a chat history
cleared for everyone, a group deleted by its owner, a message edited into other words, and a
message whose disappearing timer ran out (P5.3: removed by the server's own expiry sweep, every
``PAYAM_MESSAGE_EXPIRY_INTERVAL_SECONDS``, through the same path as a deletion). After the
server's own purge (``PAYAM_PURGE_DELAY_SECONDS`` after a deletion) and again after an explicit
``payam maintenance purge``, every file of the data directory (``payam.sqlite3``, ``-wal``,
``-shm`` and the rest) and the server's log are read byte by byte: no canary may be found. A
control message that was not deleted must be found, and so must every canary before its
deletion, so a scan that cannot see text would fail the test rather than pass it.

A canary is ``<word> <random token>``. The full-text index stores terms prefix-compressed, so
besides the whole text the scan also looks for the token's random tail alone.
"""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.system.test_server import (
    Server,
    assert_stopped_cleanly,
    free_port,
    running,
    server_env,
    sign_in,
)

pytestmark = pytest.mark.system

PURGE_DELAY = 0.5
PURGE_WAIT = 30.0  # seconds the automatic purge may take at most, however slow the machine
EXPIRY_SWEEP = 0.5
TTL = 5  # the shortest timer there is (domain/limits.py MESSAGE_TTL_MIN_SECONDS)


def canary(word: str) -> tuple[str, str]:
    """A unique text and the random tail that identifies it even inside a compressed index."""
    token = secrets.token_hex(12)
    return f"{word} c{token}", token[4:]


def needles(text: str, tail: str) -> list[bytes]:
    return [text.encode(), tail.encode()]


def data_files(server: Server) -> list[Path]:
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    return [*files, server.log_path]


def found_in_files(server: Server, patterns: list[bytes]) -> dict[bytes, list[str]]:
    """Which patterns occur in which file (the raw bytes, pages, free space and all)."""
    hits: dict[bytes, list[str]] = {}
    for path in data_files(server):
        try:
            content = path.read_bytes()
        except FileNotFoundError:  # the WAL or SHM may come and go between listing and reading
            continue
        for pattern in patterns:
            if pattern in content:
                hits.setdefault(pattern, []).append(path.name)
    return hits


def wait_until_gone(server: Server, patterns: list[bytes]) -> dict[bytes, list[str]]:
    deadline = time.monotonic() + PURGE_WAIT
    while True:
        hits = found_in_files(server, patterns)
        if not hits or time.monotonic() > deadline:
            return hits
        time.sleep(0.2)


def test_removed_text_leaves_no_trace_in_the_database_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = server_env(
        PAYAM_PURGE_DELAY_SECONDS=str(PURGE_DELAY),
        PAYAM_MESSAGE_EXPIRY_INTERVAL_SECONDS=str(EXPIRY_SWEEP),
    )
    args = ["--port", str(port), "--data-dir", str(data_dir)]

    deleted, deleted_tail = canary("deleted")
    cleared, cleared_tail = canary("cleared")
    grouped, grouped_tail = canary("grouped")
    edited, edited_tail = canary("edited")
    expired, expired_tail = canary("expired")
    control, control_tail = canary("control")
    replacement = "nothing to see here"
    removed = [
        *needles(deleted, deleted_tail),
        *needles(cleared, cleared_tail),
        *needles(grouped, grouped_tail),
        *needles(edited, edited_tail),
        *needles(expired, expired_tail),
    ]

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as client:
        ali = sign_in(server, client, "+989124440001", "Ali")
        bita = sign_in(server, client, "+989124440002", "Bita")
        a = {"Authorization": f"Bearer {ali['token']}"}
        b = {"Authorization": f"Bearer {bita['token']}"}

        def post(path: str, body: object, headers: dict[str, str]) -> httpx.Response:
            response = client.post(path, json=body, headers=headers)
            assert response.status_code < 300, response.text
            return response

        def message(chat_id: int, text: str, headers: dict[str, str]) -> int:
            body = {"client_id": secrets.token_hex(8), "text": text}
            response = post(f"/v1/chats/{chat_id}/messages", body, headers)
            assert response.status_code == 201
            message_id: int = response.json()["id"]
            return message_id

        direct = post("/v1/chats", {"type": "direct", "user_id": bita["user"]["id"]}, a)
        direct_id: int = direct.json()["id"]
        group = {"type": "group", "title": "Cleared", "member_ids": [bita["user"]["id"]]}
        cleared_group: int = post("/v1/chats", group, a).json()["id"]
        doomed = {"type": "group", "title": "Doomed", "member_ids": [bita["user"]["id"]]}
        doomed_group: int = post("/v1/chats", doomed, a).json()["id"]
        timed = {"type": "group", "title": "Timed", "member_ids": [bita["user"]["id"]]}
        timed_group: int = post("/v1/chats", timed, a).json()["id"]
        response = client.patch(f"/v1/chats/{timed_group}", json={"message_ttl": TTL}, headers=a)
        assert response.status_code == 204, response.text

        deleted_id = message(direct_id, deleted, a)
        message(cleared_group, cleared, b)
        message(doomed_group, grouped, b)
        edited_id = message(direct_id, edited, a)
        message(direct_id, control, b)
        expired_id = message(timed_group, expired, b)
        expires_at = time.monotonic() + TTL
        for text in (deleted, control, expired):
            hits = client.get("/v1/search", params={"q": text.split()[1]}, headers=b)
            assert [m["text"] for m in hits.json()["messages"]] == [text]

        # Before any deletion the scan sees every text: it can fail.
        before = found_in_files(server, [*removed, *needles(control, control_tail)])
        for text in (deleted, cleared, grouped, edited, expired, control):
            assert text.encode() in before, (text, before)

        response = client.delete(
            f"/v1/chats/{direct_id}/messages/{deleted_id}", params={"for": "everyone"}, headers=a
        )
        assert response.status_code == 204
        response = client.post(
            f"/v1/chats/{cleared_group}/clear", params={"for": "everyone"}, headers=a
        )
        assert response.status_code == 204
        response = client.delete(f"/v1/chats/{doomed_group}", params={"delete": "true"}, headers=a)
        assert response.status_code == 204
        response = client.patch(
            f"/v1/chats/{direct_id}/messages/{edited_id}", json={"text": replacement}, headers=a
        )
        assert response.status_code == 200
        # The timer runs out (real time: the server is another process with its own clock).
        time.sleep(max(0.0, expires_at - time.monotonic()) + 0.2)

        # Gone from the API at once.
        everything = str(client.get(f"/v1/chats/{direct_id}/messages", headers=b).json())
        everything += str(client.get(f"/v1/chats/{timed_group}/messages", headers=b).json())
        everything += str(client.get("/v1/chats", headers=b).json())
        everything += str(client.get("/v1/updates", headers=b).json())
        everything += str(client.get(f"/v1/chats/{cleared_group}/messages", headers=b).json())
        for text in (deleted, cleared, grouped, edited, expired):
            assert text not in everything
        assert control in everything
        # Not even as a tombstone: the expired message has no place in the history.
        timed_history = client.get(f"/v1/chats/{timed_group}/messages", headers=b).json()
        assert expired_id not in [m["id"] for m in timed_history["messages"]]
        for word in (deleted_tail, cleared_tail, grouped_tail, edited_tail, expired_tail):
            hits = client.get("/v1/search", params={"q": word}, headers=b)
            assert hits.json()["messages"] == []

        # Gone from the files after the server's own purge.
        left = wait_until_gone(server, removed)
        assert not left, f"deleted text still on disk after {PURGE_WAIT} s: {left}"
        assert control.encode() in found_in_files(server, [control.encode()])

        # And after an explicit purge while the server runs.
        purge = subprocess.run(
            [sys.executable, "-m", "payam", "maintenance", "purge", "--data-dir", str(data_dir)],
            cwd=tmp_path,
            env=server_env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert (data_dir / "payam.sqlite3-wal").stat().st_size == 0
        assert not found_in_files(server, removed)
        assert control.encode() in found_in_files(server, [control.encode()])
    assert_stopped_cleanly(server)

    # Stopped: nothing came back, the control is still there, and the updates log never held
    # any message text at all.
    assert not found_in_files(server, removed)
    database = data_dir / "payam.sqlite3"
    assert control.encode() in database.read_bytes()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT * FROM updates").fetchall()
        texts = [row[0] for row in db.execute("SELECT text FROM messages")]
    assert rows
    dump = repr(rows)
    for text in (deleted, cleared, grouped, edited, expired, control, replacement):
        assert text not in dump
    assert sorted(t for t in texts if t is not None) == sorted([control, replacement])
