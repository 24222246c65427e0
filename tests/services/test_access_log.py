"""The access-log writer (P4.2): requests only touch memory; entries reach the database in
batches, and none is lost to a flush, a stop or one bad entry."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.services.access_log import AccessLogWriter, browser_of
from payam.storage import access_log as store
from payam.storage.tables import access_log
from tests.conftest import Harness

SLOW_WRITE = 0.3  # seconds a patched write takes, to catch the writer in the middle of one


def entry(n: int, user_id: int | None = None) -> dict[str, Any]:
    return {
        "at": 1_800_000_000.0 + n,
        "user_id": user_id,
        "device_id": None,
        "ip": "192.0.2.1",
        "browser_family": "Firefox",
        "browser_version": "121.0",
        "method": "GET",
        "route": f"/test/{n}",
        "status": 200,
        "duration_ms": 1.0,
    }


async def stored(harness: Harness) -> int:
    async with harness.services.db.read() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(access_log).where(access_log.c.route.like("/test/%"))
        )
    return int(found or 0)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each batch write's size, in order."""
    sizes: list[int] = []
    real = store.append_many

    async def counted(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> int:
        sizes.append(len(entries))
        return await real(conn, entries)

    monkeypatch.setattr(store, "append_many", counted)
    return sizes


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = store.append_many

    async def slow(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> int:
        written = await real(conn, entries)
        await asyncio.sleep(SLOW_WRITE)
        return written

    monkeypatch.setattr(store, "append_many", slow)


async def test_a_burst_of_requests_is_one_write(harness: Harness, writes: list[int]) -> None:
    """One write per flush interval, not one per request: on a busy machine the burst may
    span an interval or two, which allows one more write each, never 200."""
    client = harness.client()
    started = time.monotonic()
    await asyncio.gather(*(client.get("/health") for _ in range(200)))
    elapsed = time.monotonic() - started

    await harness.services.access_log.flush()

    assert sum(writes) == 200
    intervals = math.ceil(elapsed / harness.services.access_log.flush_interval)
    assert len(writes) <= intervals + 1


async def test_a_full_batch_is_written_without_waiting_for_the_interval(
    harness: Harness, writes: list[int]
) -> None:
    writer = AccessLogWriter(harness.services.db, flush_interval=3600, max_batch=100)
    writer.start()
    try:
        for n in range(99):
            writer.record(entry(n))
        await asyncio.sleep(0.05)
        assert await stored(harness) == 0  # below the batch size: waits for the interval
        writer.record(entry(99))
        for _ in range(500):  # up to 5 s, far below the hour-long interval
            await asyncio.sleep(0.01)
            if await stored(harness) == 100:
                break
        assert await stored(harness) == 100
        assert writes == [100]
    finally:
        await writer.stop()


async def test_flush_waits_for_a_write_already_under_way(
    harness: Harness, slow_writes: None
) -> None:
    writer = AccessLogWriter(harness.services.db, flush_interval=3600, max_batch=50)
    writer.start()
    try:
        for n in range(50):
            writer.record(entry(n))
        await asyncio.sleep(SLOW_WRITE / 3)  # the background write has taken the batch

        await writer.flush()

        assert await stored(harness) == 50
    finally:
        await writer.stop()


async def test_stop_in_the_middle_of_a_write_loses_nothing(
    harness: Harness, slow_writes: None
) -> None:
    writer = AccessLogWriter(harness.services.db, flush_interval=3600, max_batch=50)
    writer.start()
    for n in range(50):
        writer.record(entry(n))
    await asyncio.sleep(SLOW_WRITE / 3)
    for n in range(50, 80):
        writer.record(entry(n))  # arrive while the first batch is being written

    await writer.stop()

    assert await stored(harness) == 80


async def test_a_cancel_that_comes_out_of_the_write_as_another_error_ends_the_writer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer survives a failed write, but not a cancel, even one the database library
    turned into an error of its own on the way out (domain/background.py): otherwise the
    event loop's shutdown, which cancels what is left, waits on it for ever."""
    entered = asyncio.Event()

    async def stuck(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> int:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("the rollback after the cancel failed") from None
        return 0

    monkeypatch.setattr(store, "append_many", stuck)
    writer = AccessLogWriter(harness.services.db, flush_interval=3600, max_batch=1)
    writer.start()
    writer.record(entry(1))
    await asyncio.wait_for(entered.wait(), 5)
    task = writer._task
    assert task is not None
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done, "the writer went on after its cancel"
    writer._task = None


async def test_many_entries_across_flushes_and_stop_all_arrive(
    harness: Harness, writes: list[int]
) -> None:
    writer = AccessLogWriter(harness.services.db, flush_interval=0.01, max_batch=300)
    writer.start()
    for n in range(2500):
        writer.record(entry(n))
        if n % 700 == 0:
            await writer.flush()
        if n % 97 == 0:
            await asyncio.sleep(0)
    await writer.stop()

    assert await stored(harness) == 2500
    assert sum(writes) == 2500
    assert len(writes) < 2500 / 50  # batched, not a write per entry


async def test_an_entry_of_a_deleted_account_does_not_sink_the_batch(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    writer = AccessLogWriter(harness.services.db)
    writer.record(entry(1, user_id=sara.user_id))
    writer.record(entry(2, user_id=sara.user_id + 1000))  # gone while it waited
    writer.record(entry(3))

    assert await writer.flush() == 2

    assert await stored(harness) == 2


async def test_a_failed_write_is_logged_and_the_writer_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = store.append_many
    calls: list[int] = []

    async def failing_once(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> int:
        calls.append(len(entries))
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return await real(conn, entries)

    monkeypatch.setattr(store, "append_many", failing_once)
    writer = AccessLogWriter(harness.services.db)
    writer.record(entry(1))
    with caplog.at_level(logging.ERROR, logger="payam.services.access_log"):
        assert await writer.flush() == 0
    assert "could not write 1 access-log entries" in caplog.text
    writer.record(entry(2))
    assert await writer.flush() == 1
    assert await stored(harness) == 1


def test_browser_of_reads_family_and_major_minor_version() -> None:
    assert browser_of(None) == (None, None)
    assert browser_of("") == (None, None)
    assert browser_of(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 "
        "Safari/604.1"
    ) == ("Mobile Safari", "17.2")
    # A long header is cut before parsing (and caching); the browser is in its first part.
    long_chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 " + "x" * 50_000
    )
    assert browser_of(long_chrome) == ("Chrome", "120.0")
