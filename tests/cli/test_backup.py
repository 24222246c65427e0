"""``payam backup`` and ``payam restore``: a round trip on SQLite and on PostgreSQL (pg_dump),
and what a restore means for deletion (P11.3, P5.3): an account erased after the backup was
made is erased again by the restore, from the erasure log.

Each phase runs the real app on the same database with a FakeClock set to the real time of
that phase (the backup's ``created_at`` comes from the system clock of the command)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from payam.app import create_app
from payam.domain.clock import FakeClock
from payam.storage.tables import messages, users
from tests.api.test_erasure import erase, fresh_code
from tests.api.test_media import fetch, uploaded
from tests.api.test_media_messages import marked
from tests.conftest import DatabaseTarget, Harness, make_settings

HOUR = 3600


@pytest.fixture(autouse=True)
def no_payam_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PAYAM_"):
            monkeypatch.delenv(name)


@contextlib.asynccontextmanager
async def running(data_dir: Path, database: DatabaseTarget, start: float) -> AsyncIterator[Harness]:
    settings = make_settings(data_dir, database)
    app = create_app(settings, clock=FakeClock(start), background_jobs=False)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    harness = Harness(app.state.services, settings, app.state.services.clock, app)
    try:
        yield harness
    finally:
        for client in harness.clients:
            await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def cli(monkeypatch: pytest.MonkeyPatch, database: DatabaseTarget, *args: str) -> Result:
    """The command as an operator runs it: settings from PAYAM_* variables and --data-dir."""
    monkeypatch.setenv("PAYAM_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("PAYAM_DATABASE_SCHEMA", database.schema)
    monkeypatch.setenv("PAYAM_SECRET_KEY", "test-secret-key-" + "x" * 32)
    from payam.cli.main import app  # noqa: PLC0415

    # The command runs its own event loop: in a thread, beside this test's.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def texts(harness: Harness, headers: dict[str, str], chat_id: int) -> list[str | None]:
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    return [m["text"] for m in response.json()["messages"]]


async def test_a_restore_brings_the_backup_back_and_keeps_later_erasures(
    database: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.backend == "postgresql" and not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    data_dir, backup = tmp_path / "data", tmp_path / "backup"
    before = time.time() - 10 * HOUR

    async with running(data_dir, database, before) as harness:
        sara = await harness.sign_in("+989120000001", "Sara")
        omid = await harness.sign_in("+989120000002", "Omid")
        nima = await harness.sign_in("+989120000003", "Nima")
        response = await harness.http.post(
            "/v1/chats", json={"type": "direct", "user_id": omid.user_id}, headers=sara.headers
        )
        chat = response.json()["id"]
        group = await harness.http.post(
            "/v1/chats",
            json={"type": "group", "title": "G", "member_ids": [sara.user_id]},
            headers=nima.headers,
        )
        group_id = group.json()["id"]
        timed = await harness.http.post(
            "/v1/chats",
            json={"type": "group", "title": "T", "member_ids": [omid.user_id]},
            headers=sara.headers,
        )
        timed_id = timed.json()["id"]
        ttl = await harness.http.patch(
            f"/v1/chats/{timed_id}", json={"message_ttl": HOUR}, headers=sara.headers
        )
        assert ttl.status_code == 204
        file = await uploaded(harness, omid, marked("backup"), filename="a.pdf")
        for n, (who, chat_id, body) in enumerate(
            (
                (sara, chat, {"text": "before the backup"}),
                (omid, chat, {"media_ids": [file["id"]]}),
                (nima, group_id, {"text": "nima wrote this"}),
                # Expires hours before the restore (no sweep runs in these phases).
                (omid, timed_id, {"text": "short lived"}),
            )
        ):
            sent = await harness.http.post(
                f"/v1/chats/{chat_id}/messages",
                json={"client_id": f"c{n}", **body},
                headers=who.headers,
            )
            assert sent.status_code == 201, sent.text

    made = await cli(monkeypatch, database, "backup", str(backup), "--data-dir", str(data_dir))
    assert made.exit_code == 0, made.output
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["format"] == "payam-backup/1"
    assert manifest["database"] == database.backend
    assert manifest["files"] >= 1
    assert (
        backup / ("payam.sqlite3" if database.backend == "sqlite" else "database.pgdump")
    ).is_file()
    # A second backup into the same place is refused rather than mixed with the first.
    again = await cli(monkeypatch, database, "backup", str(backup), "--data-dir", str(data_dir))
    assert again.exit_code == 1

    # After the backup: a message is sent, and Nima erases his account.
    async with running(data_dir, database, time.time()) as harness:
        harness.clock.advance(60)
        late = await harness.http.post(
            f"/v1/chats/{chat}/messages",
            json={"client_id": "late", "text": "after the backup"},
            headers=sara.headers,
        )
        assert late.status_code == 201
        await erase(harness, nima, await fresh_code(harness, nima))
    log = (data_dir / "erasure-log.jsonl").read_text()
    assert json.loads(log.splitlines()[-1])["user_id"] == nima.user_id

    restored = await cli(monkeypatch, database, "restore", str(backup), "--data-dir", str(data_dir))
    assert restored.exit_code == 0, restored.output
    assert "1 account(s) erased after it were erased again" in restored.output

    async with running(data_dir, database, time.time() + 2 * HOUR) as harness:
        # The backup's moment: what was sent before it, not what was sent after.
        assert await texts(harness, sara.headers, chat) == ["before the backup", None]
        assert (await fetch(harness, sara, file["id"])).status_code == 200
        # Nima was erased after the backup: the restore erased him again.
        async with harness.services.db.read() as conn:
            ids = [row.id for row in await conn.execute(select(users.c.id))]
            left = [
                row.text
                for row in await conn.execute(
                    select(messages.c.text).where(messages.c.text.is_not(None))
                )
            ]
        assert sorted(ids) == sorted([sara.user_id, omid.user_id])
        assert "nima wrote this" not in left
        assert "short lived" not in left  # disappeared since the backup: removed by the restore
        assert (await harness.http.get("/v1/me", headers=nima.headers)).status_code == 401
    if database.backend == "sqlite":
        raw = await asyncio.to_thread(Path(database.url.split("///", 1)[1]).read_bytes)
        assert b"nima wrote this" not in raw
        assert b"short lived" not in raw
        assert b"before the backup" in raw


async def test_an_erasure_before_the_backup_is_not_replayed_on_a_later_account(
    database: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is replayed only after the backup's time: an id erased before the backup and
    given to someone else later (SQLite may reuse the highest id) is left alone."""
    data_dir, backup = tmp_path / "data", tmp_path / "backup"
    async with running(data_dir, database, time.time() - 10 * HOUR) as harness:
        await harness.sign_in("+989120000001", "Sara")
        gone = await harness.sign_in("+989120000002", "Gone")
        await erase(harness, gone, await fresh_code(harness, gone))
        newcomer = await harness.sign_in("+989120000004", "Newcomer")
    made = await cli(monkeypatch, database, "backup", str(backup), "--data-dir", str(data_dir))
    assert made.exit_code == 0, made.output
    restored = await cli(monkeypatch, database, "restore", str(backup), "--data-dir", str(data_dir))
    assert restored.exit_code == 0, restored.output
    assert "0 account(s)" in restored.output
    async with running(data_dir, database, time.time()) as harness:
        assert (await harness.http.get("/v1/me", headers=newcomer.headers)).status_code == 200


async def test_restore_refuses_what_is_not_a_backup_and_backups_older_than_the_log(
    database: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.backend != "sqlite":
        pytest.skip("the checks come before any database work")
    data_dir, backup = tmp_path / "data", tmp_path / "backup"
    async with running(data_dir, database, time.time()) as harness:
        await harness.sign_in("+989120000001", "Sara")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = await cli(monkeypatch, database, "restore", str(empty), "--data-dir", str(data_dir))
    assert refused.exit_code == 1
    assert "not a complete payam backup" in refused.output
    made = await cli(monkeypatch, database, "backup", str(backup), "--data-dir", str(data_dir))
    assert made.exit_code == 0, made.output
    manifest: dict[str, Any] = json.loads((backup / "manifest.json").read_text())
    manifest["created_at"] -= 91 * 86400  # older than erasure_log_retention_days (90)
    (backup / "manifest.json").write_text(json.dumps(manifest))
    old = await cli(monkeypatch, database, "restore", str(backup), "--data-dir", str(data_dir))
    assert old.exit_code == 1
    assert "older than the erasure log's retention" in old.output
