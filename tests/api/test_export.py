"""P11.1: the export holds everything the server keeps about the caller, and nothing of others."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from typing import Any

from PIL import Image
from sqlalchemy import insert

from payam.storage.data_map import personal_fields, personal_files
from payam.storage.tables import (
    admin_access,
    consents,
    draw_winners,
    draws,
    erasure_cooldowns,
    notices,
    partner_objections,
    partners,
    push_subscriptions,
)
from tests.conftest import Account, Harness

_ids = itertools.count(1)


def photo(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


async def send(harness: Harness, sender: Account, chat_id: int, text: str) -> dict[str, Any]:
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": f"x{next(_ids)}", "text": text},
        headers=sender.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def group(harness: Harness, owner: Account, *members: Account) -> int:
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Hikers", "member_ids": [m.user_id for m in members]},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def export_of(harness: Harness, account: Account) -> tuple[dict[str, Any], zipfile.ZipFile]:
    response = await harness.http.get("/v1/me/export", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    data: dict[str, Any] = json.loads(archive.read("export.json"))
    return data, archive


def resolve(data: Any, path: str) -> list[Any]:
    """Every value at ``path`` ("a.b[].c"); [] when a list on the way is empty."""
    values = [data]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part.removesuffix("[]")
        step = []
        for value in values:
            assert isinstance(value, dict) and key in value, f"{path}: no {key!r} in {value!r}"
            step.extend(value[key] if many else [value[key]])
        values = step
    return values


async def rich_account(harness: Harness) -> tuple[Account, Account]:
    """Sara with something in every table that can hold her data; Omid beside her."""
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    await harness.http.patch("/v1/me", json={"status": "walking"}, headers=sara.headers)
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("p.png", photo((10, 200, 30)), "image/png")},
        headers=sara.headers,
    )
    assert response.status_code == 200, response.text
    response = await harness.http.post(
        "/v1/media",
        files={"file": ("m.png", photo((200, 10, 30)), "image/png")},
        headers=sara.headers,
    )
    assert response.status_code == 201, response.text
    await harness.http.put("/v1/contacts", json={"phones": ["+989120000002"]}, headers=sara.headers)
    chat_id = await group(harness, sara, omid)
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "Walks", "handle": "Sara_Walks", "description": "hills"},
        headers=sara.headers,
    )
    assert response.status_code == 201, response.text  # fills chats.handle, handle_key, description
    mine = await send(harness, sara, chat_id, "sara says hello")
    theirs = await send(harness, omid, chat_id, "omid answers")
    await send(harness, omid, chat_id, "omid hides nothing")
    response = await harness.http.delete(
        f"/v1/chats/{chat_id}/messages/{theirs['id']}?for=me", headers=sara.headers
    )
    assert response.status_code == 204, response.text
    await harness.services.admin.grant(sara.phone)
    await harness.http.post(
        f"/v1/chats/{chat_id}/messages/{mine['id']}/report",
        json={"reason": "test report"},
        headers=omid.headers,
    )
    await harness.http.post("/v1/blocks", json={"user_id": omid.user_id}, headers=sara.headers)
    await harness.http.post(f"/v1/chats/{chat_id}/invites", headers=sara.headers)
    # A pending invitation (P3.2): Dara lets only people whose number she holds add her.
    dara = await harness.sign_in("+989120000003", "Dara")
    await harness.http.patch("/v1/me", json={"group_adds": "contacts"}, headers=dara.headers)
    await harness.http.patch("/v1/me", json={"group_adds": "everyone"}, headers=sara.headers)
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Asked", "member_ids": [dara.user_id]},
        headers=sara.headers,
    )
    assert response.json()["invited"] == [dara.user_id], response.text
    await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        await conn.execute(
            insert(consents).values(
                user_id=sara.user_id, category="statistics", granted=True, updated_at=now
            )
        )
        await conn.execute(
            insert(notices).values(user_id=sara.user_id, kind="policy", ref_id=1, created_at=now)
        )
        partner_id = (
            await conn.execute(
                insert(partners)
                .values(
                    name="Acme", purpose="survey", fields="[]", proposed_at=now, notice_until=now
                )
                .returning(partners.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(partner_objections).values(
                partner_id=partner_id, user_id=sara.user_id, objected_at=now
            )
        )
        await conn.execute(
            insert(admin_access).values(
                admin_id=omid.user_id, subject_id=sara.user_id, action="lookup", at=now
            )
        )
        draw_id = (
            await conn.execute(
                insert(draws)
                .values(name="d", seed="s", eligible_count=2, drawn_at=now)
                .returning(draws.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(draw_winners).values(draw_id=draw_id, user_id=sara.user_id, notified_at=now)
        )
        await conn.execute(
            insert(erasure_cooldowns).values(
                phone_hash=harness.services.auth.phone_hash(sara.phone), until=now - 1
            )
        )
        # Planted: the API checks that an endpoint's host resolves to a public address.
        await conn.execute(
            insert(push_subscriptions).values(
                device_id=sara.device_id,
                user_id=sara.user_id,
                endpoint="https://push.example.org/sara",
                p256dh="BKey",
                auth="auth",
                created_at=now,
            )
        )
    await harness.services.access_log.flush()
    return sara, omid


async def test_every_personal_column_of_the_user_is_in_the_export(harness: Harness) -> None:
    sara, _ = await rich_account(harness)
    data, _ = await export_of(harness, sara)
    where = {entry["field"]: entry["in_export"] for entry in data["data_map"]}
    fields = {f"{f.table}.{f.column}" for f in personal_fields()}
    fields |= {f"{f.file}:{f.field}" for f in personal_files()}  # personal files (issue 9 #7)
    assert set(where) == fields
    unfilled = []
    for field, path in where.items():
        if path is None:
            assert field in data["not_included"] or field.split(":")[0] in data["not_included"]
            continue
        values = resolve(data, path)
        if not values:
            unfilled.append(field)
    # The few tables no public API fills for a user are planted above; all others are real.
    assert unfilled == [], unfilled


async def test_export_holds_the_users_values_and_the_photo_files(harness: Harness) -> None:
    sara, omid = await rich_account(harness)
    data, archive = await export_of(harness, sara)
    assert data["account"]["name"] == "Sara"
    assert data["account"]["phone"] == sara.phone
    assert data["account"]["status"] == "walking"
    assert data["devices"][0]["model"] == "Pixel 8"
    assert data["devices"][0]["token_hash"].startswith("(withheld")
    assert data["contacts"]["count"] == 1
    assert "not stored" in data["contacts"]["note"]
    texts = [m["text"] for chat in data["chats"] for m in chat["messages"]]
    assert texts == ["sara says hello", "omid hides nothing"]
    assert [m["text"] for m in data["messages_sent"]] == ["sara says hello"]
    assert data["admin_access"][0]["admin_id"] == omid.user_id
    assert data["consents"][0]["category"] == "statistics"
    assert data["access_log"], "the requests above were logged"
    files = [item["file"] for item in data["media"]]
    assert len(files) == 4  # the profile photo and one upload, each with its thumbnail
    assert [item["field"] for item in data["media"]][2:] == ["media.blob_key", "media.thumb_key"]
    for name in files:
        Image.open(io.BytesIO(archive.read(name))).verify()
    page = archive.read("export.html").decode()
    assert "sara says hello" in page and "<script" not in page


async def test_another_users_data_never_appears(harness: Harness) -> None:
    sara, omid = await rich_account(harness)
    await harness.http.patch("/v1/me", json={"status": "omid-private-status"}, headers=omid.headers)
    outsider = await harness.sign_in("+989120000003", "Outsider")
    data, archive = await export_of(harness, outsider)
    raw = archive.read("export.json").decode() + archive.read("export.html").decode()
    for secret in (
        "Sara",
        "Omid",
        "omid-private-status",
        "sara says hello",
        sara.phone,
        omid.phone,
        "walking",
    ):
        assert secret not in raw, secret
    assert data["chats"] == [] and data["messages_sent"] == []
    # Sara's export shows Omid's messages in their shared chat but never his profile or status.
    sara_data, sara_zip = await export_of(harness, sara)
    assert "omid-private-status" not in sara_zip.read("export.json").decode()
    assert all(d["user_id"] == sara.user_id for d in sara_data["devices"])


async def test_export_needs_a_session(harness: Harness) -> None:
    response = await harness.http.get("/v1/me/export")
    assert response.status_code == 401
    response = await harness.http.get(
        "/v1/me/export", headers={"Authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 401
