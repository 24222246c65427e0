"""The session cache (P9.1): a token is read from the database once every few seconds, not on
every request, and whatever ends a session in this process ends it at once: signing out,
deleting the device row, suspending or erasing the account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, event

from payam.domain.clock import FakeClock
from payam.domain.models import Caller
from payam.services.session_cache import KnownSession, SessionCache
from payam.storage import account_state
from payam.storage.tables import devices, users
from tests.conftest import Harness

PHONE = "+989121234567"


def entry(clock: FakeClock, user_id: int = 1) -> KnownSession:
    return KnownSession(Caller(user_id, user_id), clock.now(), "127.0.0.1", clock.now())


def test_an_entry_is_trusted_for_ttl_seconds_only() -> None:
    clock = FakeClock()
    cache = SessionCache(clock, ttl=5)
    cache.put(b"t", entry(clock), generation=cache.generation)
    clock.advance(4.9)
    assert cache.get(b"t") is not None
    clock.advance(0.1)
    assert cache.get(b"t") is None
    assert len(cache) == 0


def test_a_clock_that_went_back_does_not_make_an_entry_live_longer() -> None:
    clock = FakeClock()
    cache = SessionCache(clock, ttl=5)
    cache.put(b"t", entry(clock), generation=cache.generation)
    clock.advance(-1)
    assert cache.get(b"t") is None


def test_a_lookup_that_raced_a_clear_is_not_kept() -> None:
    clock = FakeClock()
    cache = SessionCache(clock)
    generation = cache.generation  # a lookup starts and reads the old row...
    cache.clear()  # ...while a sign-out commits
    cache.put(b"t", entry(clock), generation=generation)
    assert cache.get(b"t") is None


def test_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    clock = FakeClock()
    cache = SessionCache(clock, max_entries=2)
    for token in (b"a", b"b", b"c"):
        cache.put(token, entry(clock), generation=cache.generation)
    assert len(cache) == 2
    assert cache.get(b"a") is None
    assert cache.get(b"c") is not None


@contextmanager
def device_lookups(harness: Harness) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = harness.services.db.reader.sync_engine

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM devices" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_session_is_read_once_then_served_from_memory(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    with device_lookups(harness) as lookups:
        for _ in range(3):
            assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
        assert len(lookups) == 1
        harness.clock.advance(harness.services.auth.sessions.ttl)
        assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
        assert len(lookups) == 2


async def test_signing_out_stops_a_cached_token_at_once(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
    response = await harness.http.delete("/v1/auth/session", headers=account.headers)
    assert response.status_code == 204
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 401


async def test_a_device_row_deleted_by_any_code_stops_its_cached_token(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
    async with harness.services.db.write() as conn:
        await conn.execute(delete(devices).where(devices.c.id == account.device_id))
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 401


async def test_suspending_an_account_stops_its_cached_sessions_at_once(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
    async with harness.services.db.write() as conn:
        await account_state.set_suspended(conn, account.user_id, harness.clock.now())
    response = await harness.http.get("/v1/me", headers=account.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"


async def test_an_account_deleted_by_any_code_stops_its_cached_sessions(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 200
    async with harness.services.db.write() as conn:
        await conn.execute(delete(users).where(users.c.id == account.user_id))
    assert (await harness.http.get("/v1/me", headers=account.headers)).status_code == 401
