"""Media on channel posts: channels are public, so any signed-in user may fetch a file a post
that is not deleted carries (P9.1); deleting the post or the channel erases the file (P5.3)."""

from __future__ import annotations

from payam.storage import chats as chat_store
from tests.api.message_helpers import people
from tests.api.test_media import everything_on_disk, fetch, mp4, uploaded
from tests.api.test_media_messages import delete_for_everyone, marked, media_rows, sent_with
from tests.conftest import Account, Harness


async def channel_of(harness: Harness, owner: Account) -> int:
    """A channel made through the storage layer, with ``owner`` as its owner."""
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        chat_id = await chat_store.create(
            conn, type_="channel", title="News", direct=None, created_by=owner.user_id, now=now
        )
        await chat_store.add_members(
            conn, chat_id, [(owner.user_id, "owner")], now=now, start_seq=0
        )
    return chat_id


async def test_a_channel_posts_media_is_readable_by_anyone_signed_in(harness: Harness) -> None:
    owner, reader = await people(harness, "Owner", "Reader")
    channel = await channel_of(harness, owner)
    video = await uploaded(harness, owner, mp4(b"PAYAM-CHANNEL-VIDEO"))
    post = await sent_with(harness, owner, channel, [video["id"]], text="watch")
    assert post["media"] == [video]
    served = await fetch(harness, reader, video["id"], range="bytes=0-3")
    assert served.status_code == 206
    await delete_for_everyone(harness, owner, channel, post["id"])
    assert (await fetch(harness, reader, video["id"])).status_code == 404
    assert (await fetch(harness, owner, video["id"])).status_code == 404
    assert b"PAYAM-CHANNEL-VIDEO" not in everything_on_disk(harness)


async def test_a_deleted_channel_takes_its_posts_files(harness: Harness) -> None:
    owner, reader = await people(harness, "Owner", "Reader")
    channel = await channel_of(harness, owner)
    doc = await uploaded(harness, owner, marked("channel"))
    await sent_with(harness, owner, channel, [doc["id"]])
    response = await harness.http.delete(
        f"/v1/chats/{channel}", params={"delete": "true"}, headers=owner.headers
    )
    assert response.status_code == 204, response.text
    assert (await fetch(harness, reader, doc["id"])).status_code == 404
    assert b"PAYAM-CANARY-channel" not in everything_on_disk(harness)
    assert await media_rows(harness) == 0
