"""Search (issue 3 "Search"; P5.3, P9.1): ``GET /v1/search?q=`` finds words in the caller's own
accessible history only, on SQLite FTS5 and PostgreSQL full text alike; what is deleted is gone
from the results, and no query syntax can break it."""

from __future__ import annotations

import contextlib
import sqlite3

from payam.storage.tables import messages
from tests.api.message_helpers import (
    count_rows,
    delete,
    direct_chat,
    group_chat,
    people,
    search,
    sent,
)
from tests.conftest import Account, Harness


def texts(found: list[dict[str, object]]) -> list[object]:
    return [m["text"] for m in found]


async def test_search_finds_words_in_the_callers_chats_only(harness: Harness) -> None:
    ali, bita, cyrus, dara = await people(harness, "Ali", "Bita", "Cyrus", "Dara")
    ours = await direct_chat(harness, ali, bita)
    theirs = await direct_chat(harness, cyrus, dara)
    group = await group_chat(harness, ali, [cyrus])
    await sent(harness, bita, ours, "the pomegranate is ripe")
    await sent(harness, cyrus, theirs, "a pomegranate for dara")
    await sent(harness, cyrus, group, "pomegranate juice in the group")
    await sent(harness, ali, ours, "nothing to see")

    found = await search(harness, ali, "pomegranate")
    assert sorted(texts(found)) == ["pomegranate juice in the group", "the pomegranate is ripe"]
    assert all(m["chat_id"] in {ours, group} for m in found)
    assert texts(await search(harness, dara, "pomegranate")) == ["a pomegranate for dara"]
    assert await search(harness, bita, "juice") == []
    # Several words must all be there; case does not matter.
    assert texts(await search(harness, ali, "RIPE Pomegranate")) == ["the pomegranate is ripe"]
    assert await search(harness, ali, "pomegranate banana") == []


async def test_search_shows_newest_first_within_the_limit(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for i in range(5):
        await sent(harness, ali, chat, f"apple number{i}")
    found = await search(harness, bita, "apple", limit=3)
    assert texts(found) == ["apple number4", "apple number3", "apple number2"]


async def test_search_works_with_persian_text(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "سلام دوست عزیزم، فردا کتاب را بیاور")
    await sent(harness, ali, chat, "کتابخانه بسته است")
    found = await search(harness, bita, "کتاب")
    assert texts(found) == ["سلام دوست عزیزم، فردا کتاب را بیاور"]
    assert len(await search(harness, bita, "دوست فردا")) == 1
    assert texts(await search(harness, bita, "کتابخانه")) == ["کتابخانه بسته است"]
    assert await search(harness, bita, "مدرسه") == []


async def test_deleted_messages_are_gone_from_search(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "secretword in a message")
    assert len(await search(harness, bita, "secretword")) == 1
    assert (await delete(harness, ali, chat, message["id"], "everyone")).status_code == 204
    assert await search(harness, ali, "secretword") == []
    assert await search(harness, bita, "secretword") == []
    if harness.services.db.is_sqlite:
        # Not only filtered out: the index itself no longer matches it.
        async with harness.services.db.read() as conn:
            hits = await conn.exec_driver_sql(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'secretword'"
            )
            assert hits.scalar() == 0


async def test_edited_away_words_are_gone_from_search(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "meet at oldplace")
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}",
        json={"text": "meet at newplace"},
        headers=ali.headers,
    )
    assert response.status_code == 200
    assert await search(harness, bita, "oldplace") == []
    assert texts(await search(harness, bita, "newplace")) == ["meet at newplace"]


async def test_search_leaves_out_hidden_cleared_and_left_chats(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await direct_chat(harness, ali, bita)
    hidden = await sent(harness, bita, chat, "walnut hidden for ali")
    assert (await delete(harness, ali, chat, hidden["id"], "me")).status_code == 204
    assert await search(harness, ali, "walnut") == []
    assert len(await search(harness, bita, "walnut")) == 1

    await sent(harness, bita, chat, "almond before the clearing")
    clear = await harness.http.post(
        f"/v1/chats/{chat}/clear", params={"for": "me"}, headers=ali.headers
    )
    assert clear.status_code == 204
    assert await search(harness, ali, "almond") == []
    assert len(await search(harness, bita, "almond")) == 1
    await sent(harness, bita, chat, "almond after the clearing")
    assert texts(await search(harness, ali, "almond")) == ["almond after the clearing"]

    group = await group_chat(harness, cyrus, [ali])
    await sent(harness, cyrus, group, "pistachio in the group")
    assert len(await search(harness, ali, "pistachio")) == 1
    leave = await harness.http.delete(f"/v1/chats/{group}", headers=ali.headers)
    assert leave.status_code == 204
    assert await search(harness, ali, "pistachio") == []
    assert len(await search(harness, cyrus, "pistachio")) == 1


async def test_history_cleared_for_everyone_and_deleted_groups_are_gone_from_search(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "hazelnut before clearing for everyone")
    clear = await harness.http.post(
        f"/v1/chats/{chat}/clear", params={"for": "everyone"}, headers=bita.headers
    )
    assert clear.status_code == 204
    for who in (ali, bita):
        assert await search(harness, who, "hazelnut") == []

    group = await group_chat(harness, ali, [bita])
    await sent(harness, bita, group, "chestnut in a doomed group")
    gone = await harness.http.delete(
        f"/v1/chats/{group}", params={"delete": "true"}, headers=ali.headers
    )
    assert gone.status_code == 204
    for who in (ali, bita):
        assert await search(harness, who, "chestnut") == []
    assert await count_rows(harness, messages, messages.c.chat_id == group) == 0


HOSTILE_QUERIES = [
    '"',
    '"unbalanced',
    'a"b',
    '""',
    "*",
    "pome*",
    "NEAR(pomegranate ripe)",
    "NEAR(pomegranate ripe, 1)",
    "(",
    ")",
    "((pomegranate)",
    "pomegranate OR ripe",
    "pomegranate AND",
    "NOT ripe",
    "-ripe",
    "^pomegranate",
    "text:pomegranate",
    "{text}: pomegranate",
    "messages_fts:pomegranate",
    "rank:1",
    "pomegranate + ripe",
    "'",
    "\\",
    "%",
    "_",
    ":",
    "&",
    "|",
    "!",
    "<->",
    "pomegranate & ripe | !x",
    "pomegranate:*",
    "'; DROP TABLE messages; --",
    "\u200c",
    "\u202e",
    "🍎",
    "x" * 256,
]


async def test_query_syntax_cannot_break_search(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "the pomegranate is ripe")
    await sent(harness, ali, chat, 'she said "NEAR(pomegranate ripe)" and (laughed)')
    for q in HOSTILE_QUERIES:
        response = await harness.http.get("/v1/search", params={"q": q}, headers=bita.headers)
        assert response.status_code == 200, (q, response.text)
        for message in response.json()["messages"]:
            assert message["chat_id"] == chat
    # Operators are words like any other: they do not widen or narrow the search.
    assert len(await search(harness, bita, "pomegranate OR banana")) == 0
    assert len(await search(harness, bita, "laughed")) == 1
    assert await count_rows(harness, messages) == 2


async def test_a_blank_or_overlong_query_is_422(harness: Harness) -> None:
    (ali,) = await people(harness, "Ali")
    for q, code in (("", "empty_query"), ("   ", "empty_query")):
        response = await harness.http.get("/v1/search", params={"q": q}, headers=ali.headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
    response = await harness.http.get("/v1/search", params={"q": "x" * 257}, headers=ali.headers)
    assert response.status_code == 422
    response = await harness.http.get("/v1/search", headers=ali.headers)
    assert response.status_code == 422
    assert (await harness.http.get("/v1/search", params={"q": "x"})).status_code == 401


def _fts_integrity(database_path: str) -> str:
    """FTS5's own check, with content, on a copy (the live file is never written by a test)."""
    copy = sqlite3.connect(":memory:")
    with contextlib.closing(sqlite3.connect(database_path)) as live:
        live.backup(copy)
    try:
        copy.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        copy.close()
    return "ok"


async def edit(harness: Harness, who: Account, chat: int, message_id: int, text: str) -> None:
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message_id}", json={"text": text}, headers=who.headers
    )
    assert response.status_code == 200, response.text


async def test_every_word_of_an_edited_message_is_found_and_the_old_ones_are_not(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "alpha bravo gamma")
    await sent(harness, ali, chat, "alpha untouched neighbour")
    await edit(harness, ali, chat, message["id"], "alpha bravo delta")
    await edit(harness, ali, chat, message["id"], "alpha bravo delta echo")

    for word in ("alpha", "bravo", "delta", "echo"):
        found = [m for m in await search(harness, bita, word) if m["id"] == message["id"]]
        assert texts(found) == ["alpha bravo delta echo"], word
    assert len(await search(harness, bita, "alpha")) == 2
    assert await search(harness, bita, "gamma") == []
    assert texts(await search(harness, bita, "alpha bravo")) == ["alpha bravo delta echo"]
    if harness.services.db.is_sqlite:
        assert _fts_integrity(_sqlite_path(harness)) == "ok"


async def test_an_edited_then_deleted_message_leaves_search_and_a_sound_index(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "kiwi lemon mango")
    kept = await sent(harness, bita, chat, "kiwi stays here")
    await edit(harness, ali, chat, message["id"], "kiwi lemon papaya")
    assert (await delete(harness, ali, chat, message["id"], "everyone")).status_code == 204
    for word in ("lemon", "mango", "papaya"):
        assert await search(harness, bita, word) == [], word
    assert [m["id"] for m in await search(harness, ali, "kiwi")] == [kept["id"]]
    if harness.services.db.is_sqlite:
        assert _fts_integrity(_sqlite_path(harness)) == "ok"
        async with harness.services.db.read() as conn:
            hits = await conn.exec_driver_sql(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'papaya OR lemon'"
            )
            assert hits.scalar() == 0


def _sqlite_path(harness: Harness) -> str:
    return harness.settings.resolved_database_url().removeprefix("sqlite+aiosqlite:///")
