"""View counts of channel posts (P10.1): ``POST /v1/chats/{id}/views``.

A viewer counts once per post however often and from however many devices they report it,
with no record of who saw what beyond salted marks that expire. Channels are made through the
storage layer here (``make_channel``, ``post``), so these tests need nothing but the views
route; the helpers are shared with ``test_channel_stats.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from typing import Any

import httpx
from sqlalchemy import select

from payam.domain.keys import Keys
from payam.domain.models import Caller
from payam.services.channel_stats import ChannelStatsService
from payam.storage import channel_stats
from payam.storage import chats as chat_store
from payam.storage import messages as message_store
from payam.storage.tables import messages, view_marks, view_salts
from tests.api.message_helpers import count_rows, group_chat
from tests.conftest import Account, Harness

DAY = 86400
_numbers = itertools.count(1)
_client_ids = itertools.count(1)

# Numbers of a few countries (country calling codes 98, 49, 1, 90), all valid to phonenumbers.
PHONES = {
    "98": "+98912{:07d}",
    "49": "+491511{:07d}",
    "1": "+1202555{:04d}",
    "90": "+90532{:07d}",
}


async def person(
    harness: Harness, cc: str = "98", os: str = "Android 15", name: str = "Viewer"
) -> Account:
    """A new account with a number of country ``cc``, signed in on a device running ``os``."""
    phone = PHONES[cc].format(next(_numbers))
    device = {"model": "Phone", "os": os, "app_version": "1.0"}
    return await harness.sign_in(phone, name, device=device)


async def another_device(harness: Harness, who: Account, os: str = "iOS 17") -> Account:
    """The same account signed in on one more device."""
    device = {"model": "Other", "os": os, "app_version": "1.0"}
    return await harness.sign_in(who.phone, None, device=device)


async def make_channel(
    harness: Harness,
    owner: Account,
    *,
    admins: tuple[Account, ...] = (),
    subscribers: tuple[Account, ...] = (),
) -> int:
    """A channel made through storage: the owner, admins and subscribers as members."""
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        chat_id = await chat_store.create(
            conn, type_="channel", title="News", direct=None, created_by=owner.user_id, now=now
        )
        await chat_store.add_members(
            conn,
            chat_id,
            [
                (owner.user_id, "owner"),
                *((a.user_id, "admin") for a in admins),
                *((s.user_id, "subscriber") for s in subscribers),
            ],
            now=now,
            start_seq=0,
        )
    return chat_id


async def post(harness: Harness, chat_id: int, author: Account, text: str = "post") -> int:
    """A channel post (views and forwards start at 0), made through storage."""
    async with harness.services.db.write() as conn:
        chat = await chat_store.get(conn, chat_id, lock=True)
        assert chat is not None
        seq = chat.last_seq + 1
        (post_id,) = await message_store.insert_many(
            conn,
            [
                {
                    "chat_id": chat_id,
                    "seq": seq,
                    "sender_id": author.user_id,
                    "client_id": f"p-{next(_client_ids)}",
                    "text": text,
                    "created_at": harness.clock.now(),
                    "views": 0,
                    "forwards": 0,
                }
            ],
        )
        await chat_store.set_last_seqs(conn, {chat_id: seq})
    return post_id


async def delete_post(harness: Harness, post_id: int) -> None:
    async with harness.services.db.write() as conn:
        await message_store.tombstone(conn, [post_id], harness.clock.now())


async def report(harness: Harness, who: Account, chat_id: int, ids: list[Any]) -> httpx.Response:
    return await harness.http.post(
        f"/v1/chats/{chat_id}/views", json={"message_ids": ids}, headers=who.headers
    )


async def views_of(harness: Harness, who: Account, chat_id: int, ids: list[int]) -> dict[str, int]:
    response = await report(harness, who, chat_id, ids)
    assert response.status_code == 200, response.text
    found: dict[str, int] = response.json()["views"]
    return found


async def stored_views(harness: Harness, post_id: int) -> int | None:
    async with harness.services.db.read() as conn:
        value = await conn.scalar(select(messages.c.views).where(messages.c.id == post_id))
    return None if value is None else int(value)


def start_of_next_day(harness: Harness, hour: int = 0) -> None:
    """Move the fake clock to ``hour`` o'clock (UTC) of the next day."""
    now = harness.clock.now()
    harness.clock.advance((now // DAY + 1) * DAY + hour * 3600 - now)


# -- counting --------------------------------------------------------------------------------


async def test_a_viewer_counts_once_however_often_and_from_however_many_devices(
    harness: Harness,
) -> None:
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    on_tablet = await another_device(harness, reader)
    stranger = await person(harness, cc="49")  # not subscribed: channels are public
    chat_id = await make_channel(harness, owner, subscribers=(reader,))
    first, second = await post(harness, chat_id, owner), await post(harness, chat_id, owner)

    assert await views_of(harness, reader, chat_id, [first, second]) == {
        str(first): 1,
        str(second): 1,
    }
    for who in (reader, on_tablet, reader):
        assert await views_of(harness, who, chat_id, [first]) == {str(first): 1}
    harness.clock.advance(DAY)  # the next day, still inside the window: still once
    assert await views_of(harness, on_tablet, chat_id, [first, first]) == {str(first): 1}

    assert await views_of(harness, stranger, chat_id, [first]) == {str(first): 2}
    assert await stored_views(harness, first) == 2
    assert await stored_views(harness, second) == 1


async def test_concurrent_reports_of_one_viewer_count_once(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    devices = [reader, await another_device(harness, reader), await another_device(harness, reader)]
    chat_id = await make_channel(harness, owner)
    posts = [await post(harness, chat_id, owner) for _ in range(3)]

    answers = await asyncio.gather(
        *(report(harness, devices[i % 3], chat_id, posts) for i in range(12))
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert [await stored_views(harness, p) for p in posts] == [1, 1, 1]
    # One distinct viewer that day, and three views, in the day's statistics.
    async with harness.services.db.read() as conn:
        day = channel_stats.day_of(harness.clock.now())
        cells = (await channel_stats.cells(conn, chat_id, day, day))[day]
    assert cells["viewers"][""] == 1
    assert cells["views"][""] == 3


async def test_ids_that_are_not_posts_of_this_channel_or_are_deleted_are_left_out(
    harness: Harness,
) -> None:
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    chat_id = await make_channel(harness, owner)
    other_channel = await make_channel(harness, reader)
    kept = await post(harness, chat_id, owner)
    gone = await post(harness, chat_id, owner)
    elsewhere = await post(harness, other_channel, reader)
    await delete_post(harness, gone)
    group = await group_chat(harness, owner, [reader])
    sent = await harness.http.post(
        f"/v1/chats/{group}/messages",
        json={"client_id": "g1", "text": "in a group"},
        headers=owner.headers,
    )
    assert sent.status_code == 201, sent.text
    group_message = sent.json()["id"]

    found = await views_of(harness, reader, chat_id, [kept, gone, elsewhere, group_message, 2**62])
    assert found == {str(kept): 1}
    assert await stored_views(harness, elsewhere) == 0
    assert await stored_views(harness, group_message) is None  # not a post: no counter at all

    # Only ids that are nothing here: an empty answer, and nobody was counted as a viewer.
    assert await views_of(harness, owner, chat_id, [elsewhere, gone]) == {}
    assert await stored_views(harness, kept) == 1


async def test_views_of_a_chat_that_is_not_a_channel_are_404(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    member = await person(harness)
    group = await group_chat(harness, owner, [member])
    for chat_id in (group, 999_999, 0, -1):
        response = await report(harness, member, chat_id, [1])
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "chat_not_found"
    response = await report(harness, member, 2**64, [1])
    assert response.status_code == 404, response.text


async def test_bad_bodies_are_422_and_count_nothing(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    chat_id = await make_channel(harness, owner)
    post_id = await post(harness, chat_id, owner)
    bodies: list[Any] = [
        {"message_ids": []},
        {"message_ids": list(range(1, 102))},
        {"message_ids": [0]},
        {"message_ids": [-5]},
        {"message_ids": ["x"]},
        {"message_ids": [post_id, 2**63]},
        {"message_ids": [1.5]},
        {"message_ids": post_id},
        {},
        {"message_ids": [post_id], "user_id": owner.user_id},
        [post_id],
    ]
    for body in bodies:
        response = await harness.http.post(
            f"/v1/chats/{chat_id}/views", json=body, headers=reader.headers
        )
        assert response.status_code == 422, (body, response.text)
        assert "code" in response.json()["error"]
    assert await stored_views(harness, post_id) == 0
    response = await harness.http.post(f"/v1/chats/{chat_id}/views", json={"message_ids": [1]})
    assert response.status_code == 401


async def test_a_hundred_ids_are_accepted(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    chat_id = await make_channel(harness, owner)
    posts = [await post(harness, chat_id, owner) for _ in range(5)]
    ids = posts + list(range(10**9, 10**9 + 95))
    found = await views_of(harness, owner, chat_id, ids)
    assert found == {str(p): 1 for p in posts}


# -- what is kept, and for how long ------------------------------------------------------------


async def test_marks_are_opaque_and_go_with_their_salt_after_the_window(
    harness: Harness,
) -> None:
    days = harness.settings.view_dedup_days
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    chat_id = await make_channel(harness, owner)
    old = await post(harness, chat_id, owner)
    await views_of(harness, reader, chat_id, [old])

    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(view_marks))).all()
        (salt,) = [bytes(r.salt) for r in await conn.execute(select(view_salts.c.salt))]
    # Two rows (the post seen, the channel visited today), each a day and 16 bytes of a hash
    # keyed by the day's random salt under the server's secret: no viewer, no post in the
    # clear, and the database alone (salt included) cannot test who saw what.
    assert [c.name for c in view_marks.columns] == ["mark", "day"]
    assert len(salt) == 32

    def marks_with(key: bytes) -> set[bytes]:
        return {
            hmac.new(key, f"{what}:{reader.user_id}".encode(), hashlib.sha256).digest()[:16]
            for what in (f"p:{old}", f"c:{chat_id}")
        }

    assert {bytes(r.mark) for r in rows} == marks_with(
        Keys(harness.settings.secret()).view_salt(salt)
    )
    assert not marks_with(salt) & {bytes(r.mark) for r in rows}

    # Inside the window nothing goes, and the viewer still counts once.
    harness.clock.advance(days * DAY)
    removed = await harness.services.maintenance.prune()
    assert (removed["view_marks"], removed["view_salts"]) == (0, 0)
    assert await views_of(harness, reader, chat_id, [old]) == {str(old): 1}

    # Past it, the marks and salt of the post's day are dropped ...
    harness.clock.advance(DAY)
    removed = await harness.services.maintenance.prune()
    assert removed["view_marks"] == 2  # the post's and the first day's channel mark
    assert removed["view_salts"] == 1
    # ... and the post's count is final: neither the same viewer nor a new one moves it.
    newcomer = await person(harness, cc="49")
    assert await views_of(harness, reader, chat_id, [old]) == {str(old): 1}
    assert await views_of(harness, newcomer, chat_id, [old]) == {str(old): 1}
    # A new post counts as usual.
    fresh = await post(harness, chat_id, owner)
    assert await views_of(harness, newcomer, chat_id, [fresh, old]) == {
        str(fresh): 1,
        str(old): 1,
    }


async def test_one_salt_per_day_however_many_reports(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    readers = [await person(harness) for _ in range(4)]
    start_of_next_day(harness, hour=1)
    chat_id = await make_channel(harness, owner)
    post_id = await post(harness, chat_id, owner)
    answers = await asyncio.gather(*(report(harness, r, chat_id, [post_id]) for r in readers))
    assert all(a.status_code == 200 for a in answers)
    assert await count_rows(harness, view_salts) == 1
    assert await stored_views(harness, post_id) == 4


async def test_reports_arriving_together_are_counted_per_channel_and_viewer(
    harness: Harness,
) -> None:
    """Reports that arrive at once are written together: each still counts its own viewer in
    its own channel, once, and ids of the other channel stay out."""
    owner = await person(harness, name="Owner")
    viewers = [await person(harness, cc) for cc in ("98", "98", "49", "1")]
    second_devices = [await another_device(harness, v) for v in viewers[:2]]
    news, sport = await make_channel(harness, owner), await make_channel(harness, owner)
    news_posts = [await post(harness, news, owner) for _ in range(2)]
    sport_post = await post(harness, sport, owner)

    calls = []
    for i, viewer in enumerate(viewers):
        calls.append(report(harness, viewer, news, [*news_posts, sport_post]))
        if i % 2:
            calls.append(report(harness, viewer, sport, [sport_post, news_posts[0]]))
    calls += [report(harness, device, news, news_posts[:1]) for device in second_devices]
    answers = await asyncio.gather(*calls)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert answers[0].json()["views"].keys() == {str(p) for p in news_posts}

    assert [await stored_views(harness, p) for p in news_posts] == [4, 4]
    assert await stored_views(harness, sport_post) == 2
    async with harness.services.db.read() as conn:
        day = channel_stats.day_of(harness.clock.now())
        cells = await channel_stats.cells(conn, news, day, day)
        sport_cells = await channel_stats.cells(conn, sport, day, day)
    found = cells[day]["viewers"]
    hour = int(harness.clock.now() % DAY // 3600)
    assert {k: n for k, n in found.items() if not k.startswith("os:")} == {
        "": 4,
        "cc:98": 2,
        "cc:49": 1,
        "cc:1": 1,
        f"hour:{hour}": 4,
    }
    # Each viewer under the OS of whichever device reported first: Android or iOS.
    assert {k for k in found if k.startswith("os:")} <= {"os:Android", "os:iOS"}
    assert sum(n for k, n in found.items() if k.startswith("os:")) == 4
    assert cells[day]["views"] == {"": 8}
    assert sport_cells[day]["viewers"][""] == 2
    assert sport_cells[day]["views"] == {"": 2}


async def test_posts_sent_through_the_send_path_count_and_show_their_views(
    harness: Harness,
) -> None:
    owner = await person(harness, name="Owner")
    stranger = await person(harness, cc="49")
    chat_id = await make_channel(harness, owner)
    sent = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": "news-1", "text": "hello readers"},
        headers=owner.headers,
    )
    assert sent.status_code == 201, sent.text
    post_id = sent.json()["id"]
    assert sent.json()["views"] == 0

    assert await views_of(harness, stranger, chat_id, [post_id]) == {str(post_id): 1}
    history = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=stranger.headers)
    assert history.status_code == 200, history.text
    (shown,) = history.json()["messages"]
    assert shown["views"] == 1


async def test_two_servers_on_one_database_count_a_viewer_once(harness: Harness) -> None:
    """Two processes sharing one database (here two services on one engine: on PostgreSQL,
    truly concurrent transactions) agree on the day's salt and count one viewer once."""
    owner = await person(harness, name="Owner")
    reader = await person(harness)
    tablet = await another_device(harness, reader)
    start_of_next_day(harness, hour=3)
    chat_id = await make_channel(harness, owner)
    posts = [await post(harness, chat_id, owner) for _ in range(3)]
    one = harness.services.channel_stats
    other = ChannelStatsService(
        harness.services.db, harness.settings, harness.clock, Keys(harness.settings.secret())
    )
    callers = [Caller(reader.user_id, reader.device_id), Caller(tablet.user_id, tablet.device_id)]
    answers = await asyncio.gather(
        *(
            service.report_views(callers[i % 2], chat_id, posts)
            for i, service in enumerate([one, other] * 6)
        )
    )
    assert all(answer["views"] == {str(p): 1 for p in posts} for answer in answers)
    assert [await stored_views(harness, p) for p in posts] == [1, 1, 1]
    assert await count_rows(harness, view_salts) == 1
    async with harness.services.db.read() as conn:
        day = channel_stats.day_of(harness.clock.now())
        cells = (await channel_stats.cells(conn, chat_id, day, day))[day]
    assert cells["viewers"][""] == 1
    assert cells["views"] == {"": 3}
    await other.stop()
