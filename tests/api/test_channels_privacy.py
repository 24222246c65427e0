"""Channels in a user's export (P11.1) and erasure (P11.3, P5.3): the same rules as leaving
(hand-over or deletion), and nobody told per subscriber."""

from __future__ import annotations

from sqlalchemy import func, select

from payam.storage.tables import chat_members, chats, messages
from tests.api.test_channels import (
    create_channel,
    get_chat,
    set_role,
    stats_count,
    subscribe,
    updates_since,
)
from tests.api.test_chats import BITA, CYRUS, SARA, last_update_seq, send
from tests.api.test_erasure import erase, fresh_code
from tests.api.test_export import export_of
from tests.conftest import Harness


async def test_the_export_holds_the_channel_and_only_the_users_own_posts(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara, "Sara_Walks", description="hills and rivers")
    await subscribe(harness, chat_id, bita)
    await send(harness, sara, chat_id, "a post by sara")

    data, archive = await export_of(harness, bita)
    [entry] = [c for c in data["chats"] if c["chat"]["id"] == chat_id]
    assert entry["chat"]["handle"] == "Sara_Walks"
    assert entry["chat"]["handle_key"] == "sara_walks"
    assert entry["chat"]["description"] == "hills and rivers"
    assert entry["membership"]["role"] == "subscriber"
    assert entry["messages"] == [] and "not data about you" in entry["note"]
    assert "a post by sara" not in archive.read("export.json").decode()

    data, _ = await export_of(harness, sara)
    [entry] = [c for c in data["chats"] if c["chat"]["id"] == chat_id]
    assert [m["text"] for m in entry["messages"]] == ["a post by sara"]
    assert entry["membership"]["role"] == "owner"


async def test_erasing_an_owner_hands_the_channel_to_the_oldest_admin_telling_nobody_else(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita, cyrus)
    assert (await set_role(harness, sara, chat_id, bita, "admin")).status_code == 204
    post = await send(harness, sara, chat_id, "sara's words")
    bita_seq = await last_update_seq(harness, bita)
    cyrus_seq = await last_update_seq(harness, cyrus)

    await erase(harness, sara, await fresh_code(harness, sara))
    channel = await get_chat(harness, bita, chat_id)
    assert channel["role"] == "owner" and channel["subscriber_count"] == 2
    assert [(u["kind"], u.get("role")) for u in await updates_since(harness, bita, bita_seq)] == [
        ("member_role", "owner")
    ]
    assert await updates_since(harness, cyrus, cyrus_seq) == []  # no update per subscriber
    async with harness.services.db.read() as conn:
        text = await conn.scalar(select(messages.c.text).where(messages.c.id == post["id"]))
    assert text is None
    assert await stats_count(harness, chat_id, "left") == 1


async def test_erasing_an_owner_without_admins_deletes_the_channel_and_its_posts(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara, "Sara_Walks")
    await subscribe(harness, chat_id, bita)
    await send(harness, sara, chat_id, "gone with sara")
    bita_seq = await last_update_seq(harness, bita)

    await erase(harness, sara, await fresh_code(harness, sara))
    told = await updates_since(harness, bita, bita_seq)
    assert [(u["kind"], u["chat_id"], u.get("deleted")) for u in told] == [
        ("chat_removed", chat_id, True)
    ]
    response = await harness.http.get(f"/v1/chats/{chat_id}", headers=bita.headers)
    assert response.status_code == 404
    async with harness.services.db.read() as conn:
        rows = await conn.scalar(select(func.count()).where(messages.c.chat_id == chat_id))
        channel = await conn.scalar(select(func.count()).where(chats.c.id == chat_id))
    assert (rows, channel) == (0, 0)
    # The handle is free again.
    await create_channel(harness, bita, "sara_walks")


async def test_erasing_a_subscriber_leaves_quietly(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    sara_seq = await last_update_seq(harness, sara)
    await erase(harness, bita, await fresh_code(harness, bita))
    assert await updates_since(harness, sara, sara_seq) == []
    assert (await get_chat(harness, sara, chat_id))["subscriber_count"] == 1
    async with harness.services.db.read() as conn:
        left = await conn.scalar(select(func.count()).where(chat_members.c.user_id == bita.user_id))
    assert left == 0
    assert await stats_count(harness, chat_id, "left") == 1
