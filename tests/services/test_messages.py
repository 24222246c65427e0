"""The message writer (group commit) and the purger, below the HTTP door.

What only shows here: a batch in which one send collides with what another server process
committed meanwhile (several processes on one PostgreSQL) answers every other send and replays
the collided one; one send the database keeps refusing fails alone; a failed wake-up does not
stop the writer; stopping refuses waiting sends instead of leaving them hanging; the purger
runs again for a deletion that came while it ran, and retries when it could not finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from payam.domain.errors import Conflict, InvalidInput
from payam.domain.models import Caller
from payam.services import messages as service_module
from payam.services.messages import MessageService, content_hash
from payam.services.purge import Purger
from payam.storage import messages as store
from payam.storage.tables import messages
from tests.api.message_helpers import direct_chat, people, sent
from tests.conftest import Account, Harness


def caller(account: Account) -> Caller:
    return Caller(account.user_id, account.device_id)


@pytest.fixture
async def fresh_writer(harness: Harness) -> AsyncIterator[MessageService]:
    """A second writer on the same database: another server process, as far as the database
    can tell. Not started: its first send starts it, after every send queued with it."""
    s = harness.services
    writer = MessageService(s.db, s.settings, s.clock, s.updates, s.purge, files=s.media.files)
    yield writer
    await writer.stop()


async def stored(harness: Harness, client_id: str) -> int:
    async with harness.services.db.read() as conn:
        value = await conn.scalar(
            select(func.count()).select_from(messages).where(messages.c.client_id == client_id)
        )
    return int(value or 0)


async def test_a_client_id_stored_by_another_process_meanwhile_is_replayed(
    harness: Harness, fresh_writer: MessageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    # "The other process" stores the message; our batch's idempotency read ran just before.
    original = await sent(harness, ali, chat, "hello", client_id="raced")
    real = store.by_client_ids
    reads = 0

    async def read_before_the_other_commit(conn: Any, keys: Any) -> Any:
        nonlocal reads
        reads += 1
        return {} if reads == 1 else await real(conn, keys)

    monkeypatch.setattr(store, "by_client_ids", read_before_the_other_commit)
    raced, other = await asyncio.gather(
        fresh_writer.send(caller(ali), chat, client_id="raced", text="hello"),
        fresh_writer.send(caller(bita), chat, client_id="innocent", text="hi"),
    )
    assert reads >= 2  # the batch was read again after the unique constraint refused it
    assert raced.created is False
    assert raced.message["id"] == original["id"]
    assert other.created is True
    assert other.message["seq"] == 2  # the failed attempt took no seq
    assert await stored(harness, "raced") == 1
    assert await stored(harness, "innocent") == 1


async def test_a_send_the_database_keeps_refusing_fails_alone(
    harness: Harness, fresh_writer: MessageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "hello", client_id="doomed")
    real = store.by_client_ids

    async def never_sees_doomed(conn: Any, keys: Any) -> Any:
        found = await real(conn, keys)
        return {k: v for k, v in found.items() if k[1] != "doomed"}

    monkeypatch.setattr(store, "by_client_ids", never_sees_doomed)
    results = await asyncio.gather(
        fresh_writer.send(caller(bita), chat, client_id="before", text="one"),
        fresh_writer.send(caller(ali), chat, client_id="doomed", text="hello"),
        fresh_writer.send(caller(bita), chat, client_id="after", text="two"),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert isinstance(results[1], Exception)
    assert results[0].created and results[2].created
    assert [results[0].message["seq"], results[2].message["seq"]] == [2, 3]
    assert await stored(harness, "doomed") == 1


async def test_a_failed_wake_up_does_not_stop_the_writer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    updates = harness.services.updates
    real = updates.publish
    failures = 0

    async def flaky(batch: Any) -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise ConnectionError("the event bus is down")
        await real(batch)

    monkeypatch.setattr(updates, "publish", flaky)
    svc = harness.services.messages
    first = await asyncio.wait_for(svc.send(caller(ali), chat, client_id="a", text="one"), 10)
    second = await asyncio.wait_for(svc.send(caller(ali), chat, client_id="b", text="two"), 10)
    assert failures == 1
    assert [first.message["seq"], second.message["seq"]] == [1, 2]


async def test_stopping_refuses_waiting_sends_instead_of_leaving_them_hanging(
    harness: Harness, fresh_writer: MessageService
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    sends = [
        asyncio.ensure_future(fresh_writer.send(caller(ali), chat, client_id=f"s{i}", text="x"))
        for i in range(5)
    ]
    await asyncio.sleep(0)
    await fresh_writer.stop()
    done = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 10)
    assert len(done) == 5  # every one answered: stored, or refused to be retried


async def test_the_service_refuses_text_no_database_can_store(harness: Harness) -> None:
    """The WebSocket door does not parse text; the service is the last line (P9.2)."""
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    svc = harness.services.messages
    for text in ("nul\x00inside", "lone \ud800 surrogate"):
        with pytest.raises(InvalidInput) as refused:
            await svc.send(caller(ali), chat, client_id="bad", text=text)
        assert refused.value.code == "invalid_text"
    with pytest.raises(InvalidInput):
        await svc.send(caller(ali), chat, client_id="big", text="x", reply_to=2**63)
    sent_ok = await svc.send(caller(ali), chat, client_id="good", text="fine")
    assert sent_ok.message["seq"] == 1


def test_the_content_hash_tells_content_apart() -> None:
    assert content_hash("a", None, None) == content_hash("a", None, None)
    assert content_hash("a", None, None) != content_hash("a", 1, None)
    assert content_hash("a", None, None) != content_hash("b", None, None)
    assert content_hash(None, None, 5) != content_hash("5", None, None)
    assert service_module.CLIENT_ID.match("Ab0._:-")
    assert not service_module.CLIENT_ID.match("a b")


async def test_a_deletion_during_a_purge_gets_a_purge_of_its_own(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    purger = Purger(harness.services.db, delay=0.01)
    runs = 0

    async def run() -> bool:
        nonlocal runs
        runs += 1
        if runs == 1:
            await purger.request()  # a deletion commits while this purge runs
        return True

    monkeypatch.setattr(purger, "run", run)
    await purger.request()
    await purger.request()  # coalesced with the first
    for _ in range(200):
        if runs >= 2 and purger._scheduled is not None and purger._scheduled.done():
            break
        await asyncio.sleep(0.01)
    assert runs == 2
    await purger.stop()


async def test_a_purge_that_could_not_finish_is_tried_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    purger = Purger(harness.services.db, delay=0.01, max_delay=0.02)
    outcomes = [False, RuntimeError("disk hiccup"), True]
    calls = 0

    async def run() -> bool:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(purger, "run", run)
    await purger.request()
    for _ in range(300):
        if calls == 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert calls == 3
    await purger.stop()


async def test_purge_checkpoints_and_truncates_the_wal(harness: Harness) -> None:
    if not harness.services.db.is_sqlite:
        assert await harness.services.purge.run() is True  # nothing to do on PostgreSQL
        return
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "something to checkpoint")
    wal = harness.settings.data_dir.parent / "payam.sqlite3-wal"
    assert wal.exists()
    assert wal.stat().st_size > 0
    assert await harness.services.purge.run() is True
    assert wal.stat().st_size == 0


async def test_two_servers_on_one_database_store_each_client_id_once(make_harness: Any) -> None:
    """Two processes' writers race on the same sends (a client retrying on the other server):
    every send is answered, and each client_id is stored exactly once."""
    one: Harness = await make_harness()
    two: Harness = await make_harness()
    ali, bita = await people(one, "Ali", "Bita")
    chat = await direct_chat(one, ali, bita)
    sends = [
        server.services.messages.send(caller(ali), chat, client_id=f"twice-{i}", text=f"m{i}")
        for i in range(40)
        for server in (one, two)
    ]
    results = await asyncio.gather(*sends)
    for i in range(40):
        first, second = results[2 * i], results[2 * i + 1]
        assert first.message["id"] == second.message["id"]
        assert sorted([first.created, second.created]) == [False, True]
    async with one.services.db.read() as conn:
        seqs = sorted((await conn.execute(select(messages.c.seq))).scalars())
    assert seqs == list(range(1, 41))


async def test_two_servers_racing_one_client_id_into_two_chats_refuse_only_the_loser(
    make_harness: Any,
) -> None:
    """Different chats are not serialised by the chat lock, so only the unique constraint
    sees this race: the loser is a 409, and the sends batched with it are stored."""
    one: Harness = await make_harness()
    two: Harness = await make_harness()
    ali, bita, cyrus = await people(one, "Ali", "Bita", "Cyrus")
    first = await direct_chat(one, ali, bita)
    second = await direct_chat(one, ali, cyrus)
    sends = []
    for i in range(30):
        sends += [
            one.services.messages.send(caller(ali), first, client_id=f"x{i}", text="same"),
            two.services.messages.send(caller(ali), second, client_id=f"x{i}", text="same"),
            one.services.messages.send(caller(bita), first, client_id=f"b{i}", text="bystander"),
            two.services.messages.send(caller(cyrus), second, client_id=f"c{i}", text="bystander"),
        ]
    results = await asyncio.gather(*sends, return_exceptions=True)
    for i in range(30):
        a, b, by1, by2 = results[4 * i : 4 * i + 4]
        assert not isinstance(by1, BaseException), by1
        assert not isinstance(by2, BaseException), by2
        outcomes = [a, b]
        refused = [r for r in outcomes if isinstance(r, BaseException)]
        assert len(refused) == 1, outcomes
        assert isinstance(refused[0], Conflict), refused[0]
    for chat in (first, second):
        async with one.services.db.read() as conn:
            seqs = sorted(
                (await conn.execute(select(messages.c.seq).where(messages.c.chat_id == chat)))
                .scalars()
                .all()
            )
        assert seqs == list(range(1, len(seqs) + 1))


async def test_a_reader_on_an_old_snapshot_delays_the_purge_not_the_sends(
    harness: Harness,
) -> None:
    if not harness.services.db.is_sqlite:
        pytest.skip("the WAL checkpoint is SQLite's")
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "before the reader")
    purger = Purger(harness.services.db, checkpoint_attempts=2)
    svc = harness.services.messages
    async with harness.services.db.read() as reader:
        await reader.execute(select(func.count()).select_from(messages))  # holds a snapshot
        await svc.send(caller(ali), chat, client_id="after-reader", text="newer than it")
        loop = asyncio.get_running_loop()
        started = loop.time()
        purge = asyncio.ensure_future(purger.run())
        await asyncio.sleep(0.05)
        during = await asyncio.wait_for(
            svc.send(caller(bita), chat, client_id="during", text="not held up"), 2
        )
        assert await purge is False  # busy: the reader still needs the WAL
        assert loop.time() - started < 3
    assert during.created
    assert await purger.run() is True


async def test_an_edit_racing_a_deletion_never_writes_text_into_the_tombstone(
    harness: Harness,
) -> None:
    """On PostgreSQL the deletion can commit between the edit's read and its write; the write
    is guarded by ``deleted_at IS NULL`` so it changes nothing."""
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "original")
    async with harness.services.db.write() as conn:
        assert await store.tombstone(conn, [message["id"]], harness.clock.now()) == 1
        assert await store.tombstone(conn, [message["id"]], harness.clock.now()) == 0
        assert await store.edit(conn, message["id"], "revived", harness.clock.now()) is False
        row = await store.get(conn, message["id"])
    assert row is not None
    assert row.text is None
    assert row.deleted_at is not None
