"""Media carried by messages and channel posts: ``media_ids`` on a send, who may attach what,
idempotent retries, forwards, and deletion down to the bytes on disk (P5.3) on every path:
delete for everyone, clear history for everyone, a deleted group, a deleted channel, account
erasure and uploads never sent."""

from __future__ import annotations

import asyncio
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from payam.storage.tables import media, message_media
from tests.api.message_helpers import direct_chat, group_chat, people, send
from tests.api.test_erasure import erase, fresh_code
from tests.api.test_media import PDF, code_of, everything_on_disk, fetch, upload, uploaded
from tests.api.test_photos import encode, jpeg_with_gps
from tests.conftest import Account, Harness

MARKED = b"%PDF-1.4\n" + b"PAYAM-MEDIA-CANARY " * 50 + b"\n%%EOF\n"


def marked(tag: str) -> bytes:
    """A document whose bytes can be looked for on disk."""
    return b"%PDF-1.4\n" + f"PAYAM-CANARY-{tag} ".encode() * 50 + b"\n%%EOF\n"


async def sent_with(
    harness: Harness, who: Account, chat_id: int, media_ids: list[int], text: str | None = None
) -> dict[str, Any]:
    response = await send(harness, who, chat_id, text, media_ids=media_ids)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def delete_for_everyone(
    harness: Harness, who: Account, chat_id: int, message_id: int
) -> None:
    response = await harness.http.delete(
        f"/v1/chats/{chat_id}/messages/{message_id}",
        params={"for": "everyone"},
        headers=who.headers,
    )
    assert response.status_code == 204, response.text


async def media_rows(harness: Harness) -> int:
    async with harness.services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(media)) or 0)


# --- media_ids on a send ---------------------------------------------------------------------


async def test_a_message_carries_its_media_in_order_and_text_may_be_left_out(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    photo = await uploaded(harness, sara, jpeg_with_gps())
    doc = await uploaded(harness, sara, PDF)
    message = await sent_with(harness, sara, chat, [doc["id"], photo["id"]])
    assert message["text"] is None
    assert message["media"] == [doc, photo]
    history = await harness.http.get(f"/v1/chats/{chat}/messages", headers=omid.headers)
    [seen] = history.json()["messages"]
    assert seen["media"] == [doc, photo]
    # An empty caption is no caption.
    captioned = await sent_with(harness, sara, chat, [photo["id"]], text="")
    assert captioned["text"] is None
    plain = await send(harness, sara, chat, "no files")
    assert plain.json()["media"] == []
    listed = await harness.http.get("/v1/chats", headers=omid.headers)
    assert listed.json()[0]["last_message"]["media"] == []


async def test_a_message_needs_text_or_media(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    response = await send(harness, sara, chat, None, media_ids=[])
    assert response.status_code == 422
    assert code_of(response) == "empty_message"


async def test_another_users_upload_cannot_be_attached(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    theirs = await uploaded(harness, omid, PDF)
    for ids in ([theirs["id"]], [theirs["id"] + 999]):
        response = await send(harness, sara, chat, "mine now?", media_ids=ids)
        assert response.status_code == 404
        assert code_of(response) == "media_not_found"
    # Nothing was sent, and the upload is still Omid's alone.
    history = await harness.http.get(f"/v1/chats/{chat}/messages", headers=sara.headers)
    assert history.json()["messages"] == []
    assert (await fetch(harness, sara, theirs["id"])).status_code == 404


async def test_too_many_or_repeated_media_are_422(make_harness: Any) -> None:
    harness: Harness = await make_harness(media_per_message=2)
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    ids = [(await uploaded(harness, sara, bytes([n]) * 20))["id"] for n in range(3)]
    response = await send(harness, sara, chat, "three", media_ids=ids)
    assert response.status_code == 422
    assert code_of(response) == "too_many_media"
    response = await send(harness, sara, chat, "twice", media_ids=[ids[0], ids[0]])
    assert response.status_code == 422
    assert code_of(response) == "duplicate_media"
    response = await send(harness, sara, chat, "bad", media_ids=[0])
    assert response.status_code == 422
    assert (await send(harness, sara, chat, "two", media_ids=ids[:2])).status_code == 201


async def test_a_retry_with_the_same_media_replays_and_with_other_media_is_409(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    one = await uploaded(harness, sara, marked("one"))
    two = await uploaded(harness, sara, marked("two"))
    first = await send(harness, sara, chat, "hi", client_id="r-1", media_ids=[one["id"]])
    assert first.status_code == 201
    again = await send(harness, sara, chat, "hi", client_id="r-1", media_ids=[one["id"]])
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await send(harness, sara, chat, "hi", client_id="r-1", media_ids=[two["id"]])
    assert other.status_code == 409
    assert code_of(other) == "client_id_reused"
    bare = await send(harness, sara, chat, "hi", client_id="r-1")
    assert bare.status_code == 409


async def test_a_forward_carries_the_files_and_outlives_the_original(harness: Harness) -> None:
    sara, omid, leila = await people(harness, "Sara", "Omid", "Leila")
    first = await direct_chat(harness, sara, omid)
    second = await direct_chat(harness, omid, leila)
    doc = await uploaded(harness, sara, marked("forwarded"))
    original = await sent_with(harness, sara, first, [doc["id"]], text="report")
    forward = await send(harness, omid, second, None, forward_of=original["id"])
    assert forward.status_code == 201, forward.text
    assert forward.json()["media"] == [doc]
    assert (await fetch(harness, leila, doc["id"])).status_code == 200
    await delete_for_everyone(harness, sara, first, original["id"])
    # Sara's chat no longer shows it, Leila's forward still does: the file stays.
    assert (await fetch(harness, leila, doc["id"])).status_code == 200
    assert b"PAYAM-CANARY-forwarded" in everything_on_disk(harness)
    await delete_for_everyone(harness, omid, second, forward.json()["id"])
    assert (await fetch(harness, leila, doc["id"])).status_code == 404
    assert b"PAYAM-CANARY-forwarded" not in everything_on_disk(harness)


# --- deletion down to the disk (P5.3) -------------------------------------------------------


async def test_deleting_the_message_erases_the_file_and_thumbnail_from_disk(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    photo = await uploaded(harness, sara, jpeg_with_gps())
    full = (await fetch(harness, sara, photo["id"])).content
    thumb = (await fetch(harness, sara, photo["id"], "/thumbnail")).content
    message = await sent_with(harness, sara, chat, [photo["id"]])
    on_disk = everything_on_disk(harness)
    assert full in on_disk and thumb in on_disk
    await delete_for_everyone(harness, sara, chat, message["id"])
    on_disk = everything_on_disk(harness)
    assert full[-64:] not in on_disk
    assert thumb[-64:] not in on_disk
    for who in (sara, omid):
        assert (await fetch(harness, who, photo["id"])).status_code == 404
    history = await harness.http.get(f"/v1/chats/{chat}/messages", headers=omid.headers)
    assert history.json()["messages"][0]["media"] == []
    assert await media_rows(harness) == 0


async def test_the_same_bytes_from_two_users_stay_until_both_are_gone(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    mine = await uploaded(harness, sara, MARKED)
    theirs = await uploaded(harness, omid, MARKED)
    assert mine["id"] != theirs["id"]
    message = await sent_with(harness, sara, chat, [mine["id"]])
    await delete_for_everyone(harness, sara, chat, message["id"])
    # Sara's upload is gone, Omid's (the same file on disk) is not.
    assert (await fetch(harness, sara, mine["id"])).status_code == 404
    kept = await fetch(harness, omid, theirs["id"])
    assert kept.status_code == 200 and kept.content == MARKED
    assert b"PAYAM-MEDIA-CANARY" in everything_on_disk(harness)
    harness.clock.advance(harness.settings.media_unattached_hours * 3600 + 1)
    assert (await harness.services.maintenance.prune())["unattached_media"] == 1
    assert b"PAYAM-MEDIA-CANARY" not in everything_on_disk(harness)


async def test_a_profile_photo_with_the_same_bytes_survives_the_media_deletion(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    picture = jpeg_with_gps(size=400)  # small: photos and media re-encode it alike
    response = await harness.http.put(
        "/v1/me/photo", files={"file": ("p.jpg", picture, "image/jpeg")}, headers=sara.headers
    )
    assert response.status_code == 200, response.text
    profile = await harness.http.get(f"/v1/users/{sara.user_id}/photo", headers=sara.headers)
    item = await uploaded(harness, sara, picture)
    served = await fetch(harness, sara, item["id"])
    assert served.headers["etag"] == profile.headers["etag"]  # one file for both
    message = await sent_with(harness, sara, chat, [item["id"]])
    await delete_for_everyone(harness, sara, chat, message["id"])
    again = await harness.http.get(f"/v1/users/{sara.user_id}/photo", headers=sara.headers)
    assert again.status_code == 200 and again.content == profile.content


async def test_clearing_history_for_everyone_erases_the_files(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await group_chat(harness, sara, [omid])
    doc = await uploaded(harness, omid, marked("cleared"))
    await sent_with(harness, omid, chat, [doc["id"]])
    response = await harness.http.post(
        f"/v1/chats/{chat}/clear", params={"for": "everyone"}, headers=sara.headers
    )
    assert response.status_code == 204, response.text
    assert (await fetch(harness, omid, doc["id"])).status_code == 404
    assert b"PAYAM-CANARY-cleared" not in everything_on_disk(harness)


async def test_clearing_history_for_oneself_keeps_the_files(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await group_chat(harness, sara, [omid])
    doc = await uploaded(harness, omid, marked("kept"))
    await sent_with(harness, omid, chat, [doc["id"]])
    response = await harness.http.post(f"/v1/chats/{chat}/clear", headers=sara.headers)
    assert response.status_code == 204, response.text
    assert (await fetch(harness, omid, doc["id"])).status_code == 200
    assert b"PAYAM-CANARY-kept" in everything_on_disk(harness)


async def test_a_deleted_group_takes_its_files(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await group_chat(harness, sara, [omid])
    doc = await uploaded(harness, omid, marked("group"))
    await sent_with(harness, omid, chat, [doc["id"]])
    response = await harness.http.delete(
        f"/v1/chats/{chat}", params={"delete": "true"}, headers=sara.headers
    )
    assert response.status_code == 204, response.text
    assert b"PAYAM-CANARY-group" not in everything_on_disk(harness)
    assert await media_rows(harness) == 0


async def test_the_last_member_leaving_takes_the_files(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    doc = await uploaded(harness, sara, marked("direct"))
    await sent_with(harness, sara, chat, [doc["id"]])
    for who in (sara, omid):
        left = await harness.http.delete(f"/v1/chats/{chat}", headers=who.headers)
        assert left.status_code == 204, left.text
    assert b"PAYAM-CANARY-direct" not in everything_on_disk(harness)
    assert await media_rows(harness) == 0


async def test_erasing_an_account_erases_its_files(harness: Harness) -> None:
    sara, omid, leila = await people(harness, "Sara", "Omid", "Leila")
    chat = await direct_chat(harness, sara, omid)
    sent = await uploaded(harness, sara, marked("sent"))
    unsent = await uploaded(harness, sara, marked("unsent"))
    shared = await uploaded(harness, sara, marked("shared"))
    await sent_with(harness, sara, chat, [sent["id"]])
    original = await sent_with(harness, sara, chat, [shared["id"]])
    other = await direct_chat(harness, omid, leila)
    forward = await send(harness, omid, other, None, forward_of=original["id"])
    assert forward.status_code == 201, forward.text
    receipt = await erase(harness, sara, await fresh_code(harness, sara))
    assert receipt["removed"]["files"] == 2  # type: ignore[index]
    on_disk = everything_on_disk(harness)
    assert b"PAYAM-CANARY-sent" not in on_disk
    assert b"PAYAM-CANARY-unsent" not in on_disk
    # Omid's forward is his: its file stays, no longer tied to Sara.
    assert b"PAYAM-CANARY-shared" in on_disk
    assert (await fetch(harness, leila, shared["id"])).status_code == 200
    async with harness.services.db.read() as conn:
        owners = (await conn.execute(select(media.c.owner_id))).scalars().all()
    assert owners == [None]
    assert (await fetch(harness, omid, unsent["id"])).status_code == 404


async def test_an_upload_never_sent_expires_and_a_sent_one_does_not(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    lonely = await uploaded(harness, sara, marked("lonely"))
    kept = await uploaded(harness, sara, marked("attached"))
    await sent_with(harness, sara, chat, [kept["id"]])
    hours = harness.settings.media_unattached_hours
    harness.clock.advance(hours * 3600 - 60)
    assert (await harness.services.maintenance.prune())["unattached_media"] == 0
    assert (await fetch(harness, sara, lonely["id"])).status_code == 200
    harness.clock.advance(120)
    assert (await harness.services.maintenance.prune())["unattached_media"] == 1
    assert (await fetch(harness, sara, lonely["id"])).status_code == 404
    on_disk = everything_on_disk(harness)
    assert b"PAYAM-CANARY-lonely" not in on_disk
    assert b"PAYAM-CANARY-attached" in on_disk
    # Too late to attach it now.
    response = await send(harness, sara, chat, "late", media_ids=[lonely["id"]])
    assert response.status_code == 404


async def test_refused_uploads_and_sends_leave_no_rows_or_files(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    bad = encode(Image.effect_noise((200, 200), 64).convert("RGB"), "JPEG")
    assert (await upload(harness, sara, bad[: len(bad) // 3])).status_code == 422
    assert await media_rows(harness) == 0
    doc = await uploaded(harness, sara, PDF)
    response = await send(harness, omid, chat, "steal", media_ids=[doc["id"]])
    assert response.status_code == 404
    async with harness.services.db.read() as conn:
        links = await conn.scalar(select(func.count()).select_from(message_media))
    assert links == 0


async def test_a_file_survives_a_deletion_racing_an_upload_of_the_same_bytes(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    for round_ in range(3):
        data = marked(f"race-{round_}")
        mine = await uploaded(harness, sara, data)
        message = await sent_with(harness, sara, chat, [mine["id"]])
        deleted, theirs = await asyncio.gather(
            harness.http.delete(
                f"/v1/chats/{chat}/messages/{message['id']}",
                params={"for": "everyone"},
                headers=sara.headers,
            ),
            upload(harness, omid, data),
        )
        assert (deleted.status_code, theirs.status_code) == (204, 201)
        served = await fetch(harness, omid, theirs.json()["id"])
        assert served.status_code == 200 and served.content == data
