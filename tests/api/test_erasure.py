"""P11.3, P5.3: deleting an account needs a fresh code, removes everything that names the user,
keeps other members' histories gapless, and answers a receipt."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from payam.storage import privacy
from payam.storage.tables import chat_members, erasure_cooldowns, messages
from tests.api.test_export import group, photo, rich_account, send
from tests.conftest import Account, Harness


async def fresh_code(harness: Harness, account: Account) -> str:
    harness.clock.advance(3600)  # past the growing wait between codes to one number
    response = await harness.http.post("/v1/auth/code", json={"phone": account.phone})
    assert response.status_code == 202, response.text
    return harness.last_code(account.phone)


async def erase(harness: Harness, account: Account, code: str) -> dict[str, object]:
    response = await harness.http.request(
        "DELETE", "/v1/me", json={"code": code}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    receipt: dict[str, object] = response.json()
    return receipt


async def test_erasure_without_a_fresh_valid_code_is_refused(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    for body in ({}, {"code": "000000"}, {"code": "12"}):
        response = await harness.http.request("DELETE", "/v1/me", json=body, headers=sara.headers)
        assert 400 <= response.status_code < 500, response.text
    # The code used to sign in is spent; an expired fresh one is refused too.
    await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    code = harness.last_code(sara.phone)
    harness.clock.advance(harness.settings.code_ttl_seconds + 1)
    response = await harness.http.request(
        "DELETE", "/v1/me", json={"code": code}, headers=sara.headers
    )
    assert response.json()["error"]["code"] == "code_expired"
    assert (await harness.http.get("/v1/me", headers=sara.headers)).status_code == 200


async def test_erasure_needs_a_session(harness: Harness) -> None:
    response = await harness.http.request("DELETE", "/v1/me", json={"code": "123456"})
    assert response.status_code == 401


async def test_erasure_removes_every_row_naming_the_user_and_answers_a_receipt(
    harness: Harness,
) -> None:
    sara, omid = await rich_account(harness)
    photo_keys = (await harness.services.profiles.me(sara)).photo_key
    assert photo_keys
    receipt = await erase(harness, sara, await fresh_code(harness, sara))
    assert receipt["user_id"] == sara.user_id
    assert isinstance(receipt["receipt_id"], str) and len(receipt["receipt_id"]) == 32
    removed = receipt["removed"]
    assert isinstance(removed, dict)
    assert removed["account"] == 1 and removed["messages"] == 1 and removed["devices"] == 1
    assert removed["profile_photo_files"] == 2
    async with harness.services.db.read() as conn:
        for subject in privacy.subject_tables():
            if subject.table.name == "erasure_cooldowns":
                continue
            rows = await privacy.rows_of(conn, subject, sara.user_id, None)
            assert rows == [], subject.table.name
        kept = await conn.scalar(select(func.count()).select_from(erasure_cooldowns))
    assert kept == 1
    blobs = Path(harness.settings.data_dir) / "blobs"
    assert not any(p.is_file() for p in blobs.rglob("*")), list(blobs.rglob("*"))
    # The session is gone with the account.
    assert (await harness.http.get("/v1/me", headers=sara.headers)).status_code == 401
    assert (await harness.http.get("/v1/me", headers=omid.headers)).status_code == 200


async def test_other_members_keep_a_gapless_history_and_hear_that_the_account_left(
    harness: Harness,
) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    lena = await harness.sign_in("+989120000003", "Lena")
    chat_id = await group(harness, sara, omid, lena)
    await send(harness, omid, chat_id, "one")
    await send(harness, sara, chat_id, "two from sara")
    await send(harness, omid, chat_id, "three")
    before = (await harness.http.get("/v1/updates?after=0", headers=omid.headers)).json()
    await erase(harness, sara, await fresh_code(harness, sara))
    async with harness.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.seq, messages.c.text, messages.c.sender_id)
                .where(messages.c.chat_id == chat_id)
                .order_by(messages.c.seq)
            )
        ).all()
        roles = dict(
            (
                await conn.execute(
                    select(chat_members.c.user_id, chat_members.c.role).where(
                        chat_members.c.chat_id == chat_id
                    )
                )
            ).all()
        )
    texts = [r.text for r in rows]
    assert "two from sara" not in texts and "one" in texts and "three" in texts
    seqs = [r.seq for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "seqs stay gapless"
    assert None in [r.sender_id for r in rows]
    # The group had an owner: the oldest member takes it over.
    assert sorted(roles) == sorted([omid.user_id, lena.user_id])
    assert "owner" in roles.values()
    after = before.get("last_seq", 0) if isinstance(before, dict) else 0
    response = await harness.http.get(f"/v1/updates?after={after}", headers=omid.headers)
    assert response.status_code == 200, response.text
    kinds = [(u["kind"], u.get("account_deleted")) for u in response.json()["updates"]]
    assert ("member_removed", True) in kinds
    assert ("message_deleted", None) in kinds


async def test_a_deleted_number_is_texted_nothing_during_the_cool_down_then_welcome(
    harness: Harness,
) -> None:
    """Issue 9 #8: a code that sign-in would refuse (``number_cooling_down``) is never sent,
    and the code request answers as for any number, telling nobody the number was erased."""
    sara = await harness.sign_in("+989120000001", "Sara")
    await erase(harness, sara, await fresh_code(harness, sara))
    sms_before = len(harness.outbox())
    harness.clock.advance(3600)
    cooling = await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    never_seen = await harness.http.post("/v1/auth/code", json={"phone": "+989120000077"})
    assert cooling.status_code == never_seen.status_code == 202
    # The same fields and lifetime; the waits follow the number's own sends, as for any number.
    assert sorted(cooling.json()) == sorted(never_seen.json())
    assert cooling.json()["expires_in"] == never_seen.json()["expires_in"]
    assert [m["to"] for m in harness.outbox()[sms_before:]] == ["+989120000077"]
    response = await harness.http.post(
        "/v1/auth/session",
        json={
            "phone": sara.phone,
            "code": "123456",
            "name": "Again",
            "device": {"model": "m", "os": "o", "app_version": "1"},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_code"
    harness.clock.advance(harness.settings.erasure_cooldown_days * 86400 + 1)
    again = await harness.sign_in(sara.phone, "Again")
    assert again.name == "Again"


async def test_a_direct_chat_partner_keeps_the_chat_without_the_pair_key(
    harness: Harness,
) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    response = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": omid.user_id}, headers=sara.headers
    )
    chat_id = response.json()["id"]
    await send(harness, sara, chat_id, "hi omid")
    await send(harness, omid, chat_id, "hi sara")
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("p.png", photo((1, 2, 3)), "image/png")},
        headers=sara.headers,
    )
    await erase(harness, sara, await fresh_code(harness, sara))
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=omid.headers)
    assert response.status_code == 200, response.text
    assert "hi omid" not in response.text and "hi sara" in response.text


async def test_a_group_left_empty_by_the_erasure_takes_its_photo_files_with_it(
    harness: Harness,
) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    chat_id = await group(harness, sara)
    response = await harness.http.put(
        f"/v1/chats/{chat_id}/photo",
        files={"file": ("g.png", photo((12, 200, 99)), "image/png")},
        headers=sara.headers,
    )
    assert response.status_code == 200, response.text
    blobs = harness.settings.data_dir / "blobs"
    files_before = [p for p in blobs.rglob("*") if p.is_file()]
    assert files_before, "the group photo was not stored"
    await erase(harness, sara, await fresh_code(harness, sara))
    assert [p for p in blobs.rglob("*") if p.is_file()] == []
