"""Issue 9, defect 1 (P3.2): being put in a chat by a stranger does not open one's profile to
them; "who can add me to groups" (``group_adds``), group invitations, and the limit on chats
opened with strangers. The rule itself: ``domain/visibility.py`` and docs/api.md."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from PIL import Image

from tests.api.test_chats import chat_list, get_chat, send, start_direct, updates_of
from tests.api.test_erasure import erase, fresh_code
from tests.conftest import Account, Harness

ALI, BITA, CYRUS, DARA, EVE = (f"+98912555000{i}" for i in range(1, 6))
# Names that appear nowhere else: finding one in an answer means the profile leaked.
SECRET = {ALI: "Ali Qx7", BITA: "Bita Zr9", CYRUS: "Cyrus Wv4", DARA: "Dara Kp2"}


@pytest.fixture
async def strict(make_harness: Any) -> Harness:
    """The server's real default: people whose number one holds may add one to groups."""
    harness: Harness = await make_harness(group_adds_default="contacts")
    return harness


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (40, 90, 200)).save(out, "PNG")
    return out.getvalue()


async def person(harness: Harness, phone: str, *, photo: bool = True) -> Account:
    account = await harness.sign_in(phone, SECRET.get(phone, "Eve Attacker"))
    await harness.http.patch(
        "/v1/me", json={"status": "status of " + phone}, headers=account.headers
    )
    if photo:
        response = await harness.http.put(
            "/v1/me/photo", files={"file": ("p.png", png(), "image/png")}, headers=account.headers
        )
        assert response.status_code == 200, response.text
    return account


async def seen(harness: Harness, viewer: Account, owner: Account) -> dict[str, Any]:
    response = await harness.http.get(f"/v1/users/{owner.user_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def photo_status(harness: Harness, viewer: Account, owner: Account) -> int:
    response = await harness.http.get(f"/v1/users/{owner.user_id}/photo", headers=viewer.headers)
    return response.status_code


async def shows(harness: Harness, viewer: Account, owner: Account) -> bool:
    """Whether ``viewer`` sees ``owner``'s profile, checked on both paths that show it."""
    body = await seen(harness, viewer, owner)
    photo = await photo_status(harness, viewer, owner)
    if body == {"id": owner.user_id}:
        assert photo == 404
        return False
    assert body["name"] == owner.name and photo == 200, (body, photo)
    assert "phone" not in body
    return True


async def holds(harness: Harness, holder: Account, *owners: Account) -> None:
    response = await harness.http.put(
        "/v1/contacts", json={"phones": [o.phone for o in owners]}, headers=holder.headers
    )
    assert response.status_code == 200, response.text


async def group(harness: Harness, owner: Account, *members: Account) -> dict[str, Any]:
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "G", "member_ids": [m.user_id for m in members]},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def everything_eve_can_read(harness: Harness, eve: Account) -> str:
    """Every answer the attacker can get that could carry another user's profile."""
    parts = []
    chats = await chat_list(harness, eve)
    parts.append(json.dumps(chats))
    for chat in chats:
        parts.append(json.dumps(await get_chat(harness, eve, chat["id"])))
        history = await harness.http.get(f"/v1/chats/{chat['id']}/messages", headers=eve.headers)
        parts.append(history.text)
    parts.append(json.dumps(await updates_of(harness, eve)))
    parts.append((await harness.http.get("/v1/me/invitations", headers=eve.headers)).text)
    export = await harness.http.get("/v1/me/export", headers=eve.headers)
    assert export.status_code == 200, export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        parts += [archive.read(n).decode(errors="replace") for n in archive.namelist()]
    return "\n".join(parts)


async def test_opening_a_direct_chat_with_a_stranger_shows_only_their_id(
    harness: Harness,
) -> None:
    bita = await person(harness, BITA)
    eve = await person(harness, EVE)
    response = await start_direct(harness, eve, bita.user_id)
    assert response.status_code == 201, response.text
    assert await seen(harness, eve, bita) == {"id": bita.user_id}
    assert not await shows(harness, eve, bita)
    # Eve opened it: she shows herself to Bita (who sees who writes to her).
    assert await shows(harness, bita, eve)
    assert SECRET[BITA] not in await everything_eve_can_read(harness, eve)


async def test_putting_strangers_in_a_group_shows_only_their_ids(harness: Harness) -> None:
    bita, cyrus = await person(harness, BITA), await person(harness, CYRUS)
    eve = await person(harness, EVE)
    created = await group(harness, eve, bita, cyrus)
    assert created["invited"] == []  # this harness lets everyone add anyone
    for victim in (bita, cyrus):
        assert await seen(harness, eve, victim) == {"id": victim.user_id}
        assert not await shows(harness, eve, victim)
    # Nor do the victims see each other: neither was put there by someone holding their number.
    assert not await shows(harness, bita, cyrus)
    text = await everything_eve_can_read(harness, eve)
    assert SECRET[BITA] not in text and SECRET[CYRUS] not in text


async def test_harvesting_sequential_ids_yields_nothing(harness: Harness) -> None:
    victims = [await person(harness, p) for p in (ALI, BITA, CYRUS, DARA)]
    eve = await person(harness, EVE)
    top = max(v.user_id for v in victims) + 3
    others = [uid for uid in range(1, top) if uid != eve.user_id]
    for uid in others:
        await start_direct(harness, eve, uid)
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Net", "member_ids": [v.user_id for v in victims]},
        headers=eve.headers,
    )
    assert response.status_code == 201, response.text
    for uid in others:
        answer = await harness.http.get(f"/v1/users/{uid}", headers=eve.headers)
        assert answer.status_code in {200, 404}
        assert answer.status_code == 404 or answer.json() == {"id": uid}
        assert (
            await harness.http.get(f"/v1/users/{uid}/photo", headers=eve.headers)
        ).status_code == 404
    text = await everything_eve_can_read(harness, eve)
    for name in SECRET.values():
        assert name not in text


async def test_answering_in_the_direct_chat_shows_the_profile(harness: Harness) -> None:
    bita = await person(harness, BITA)
    eve = await person(harness, EVE)
    chat = (await start_direct(harness, eve, bita.user_id)).json()["id"]
    await send(harness, eve, chat, "hello stranger")
    assert not await shows(harness, eve, bita)
    await send(harness, bita, chat, "who is this?")
    assert await shows(harness, eve, bita)
    # Deleting the chat takes it back.
    assert (await harness.http.delete(f"/v1/chats/{chat}", headers=bita.headers)).status_code == 204
    assert not await shows(harness, eve, bita)


async def test_the_other_side_holding_my_number_shows_theirs_in_our_direct_chat(
    harness: Harness,
) -> None:
    ali, bita = await person(harness, ALI), await person(harness, BITA)
    await start_direct(harness, ali, bita.user_id)
    assert not await shows(harness, ali, bita)
    await holds(harness, bita, ali)  # Bita knows Ali
    assert await shows(harness, ali, bita)
    # Without a shared chat, Bita holding Ali's number shows Ali nothing of Bita.
    cyrus = await person(harness, CYRUS)
    await holds(harness, bita, ali, cyrus)
    assert not await shows(harness, cyrus, bita)


async def test_added_by_someone_holding_my_number_shows_me_to_the_group(harness: Harness) -> None:
    ali, bita, cyrus = (
        await person(harness, ALI),
        await person(harness, BITA),
        await person(harness, CYRUS),
    )
    await holds(harness, ali, bita)  # Ali holds Bita's number, not Cyrus's
    await group(harness, ali, bita, cyrus)
    assert await shows(harness, cyrus, bita)  # added by a holder of her number
    assert not await shows(harness, bita, cyrus)  # added by a stranger
    assert await shows(harness, bita, ali) and await shows(harness, cyrus, ali)  # the creator


async def test_joining_by_an_invite_link_shows_the_joiner(harness: Harness) -> None:
    ali, bita = await person(harness, ALI), await person(harness, BITA)
    chat = (await group(harness, ali))["id"]
    token = (await harness.http.post(f"/v1/chats/{chat}/invites", headers=ali.headers)).json()[
        "token"
    ]
    joined = await harness.http.post(f"/v1/invites/{token}/join", headers=bita.headers)
    assert joined.status_code in {200, 201}, joined.text
    assert await shows(harness, ali, bita)


async def test_group_adds_defaults_to_contacts_and_can_be_changed(strict: Harness) -> None:
    bita = await person(strict, BITA)
    me = await strict.http.get("/v1/me", headers=bita.headers)
    assert me.json()["group_adds"] == "contacts"
    changed = await strict.http.patch(
        "/v1/me", json={"group_adds": "everyone"}, headers=bita.headers
    )
    assert changed.status_code == 200 and changed.json()["group_adds"] == "everyone"
    assert (await strict.http.get("/v1/me", headers=bita.headers)).json()[
        "group_adds"
    ] == "everyone"
    # A refused change writes nothing, not even its valid part.
    half = await strict.http.patch(
        "/v1/me", json={"group_adds": "contacts", "name": " "}, headers=bita.headers
    )
    assert half.status_code == 422 and half.json()["error"]["code"] == "invalid_name"
    for bad in ("nobody", 1, None, True):
        refused = await strict.http.patch("/v1/me", json={"group_adds": bad}, headers=bita.headers)
        assert refused.status_code == 422, (bad, refused.text)
    assert (await strict.http.get("/v1/me", headers=bita.headers)).json()[
        "group_adds"
    ] == "everyone"


async def test_strangers_are_invited_not_added_and_choose(strict: Harness) -> None:
    bita, cyrus, dara = (
        await person(strict, BITA),
        await person(strict, CYRUS),
        await person(strict, DARA),
    )
    eve = await person(strict, EVE)
    await holds(strict, dara, eve)  # Dara holds Eve's number: Eve may add her
    created = await group(strict, eve, bita, cyrus, dara)
    chat = created["id"]
    assert sorted(created["invited"]) == sorted([bita.user_id, cyrus.user_id])
    assert {m["user_id"] for m in (await get_chat(strict, eve, chat))["members"]} == {
        eve.user_id,
        dara.user_id,
    }
    # Bita is not in the chat: no chat_new, nothing in her list, but an invitation.
    assert all(c["id"] != chat for c in await chat_list(strict, bita))
    updates = await updates_of(strict, bita)
    news = [u for u in updates if u["kind"] == "invitation_new"]
    assert [u["invitation"]["chat_id"] for u in news] == [chat]
    assert not [u for u in updates if u["kind"] == "chat_new"]
    listed = (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json()
    assert listed == [news[0]["invitation"]]
    invitation = listed[0]
    assert (invitation["invited_by"], invitation["title"]) == (eve.user_id, "G")
    # The invitee sees who invited her; the inviter sees nothing of the invitee.
    assert await shows(strict, bita, eve)
    assert not await shows(strict, eve, bita)
    # Nobody else can see, accept or decline it.
    for path in (f"/v1/me/invitations/{invitation['id']}/accept",):
        assert (await strict.http.post(path, headers=cyrus.headers)).status_code == 404
    gone = await strict.http.delete(f"/v1/me/invitations/{invitation['id']}", headers=eve.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "invitation_not_found"
    assert (await strict.http.get("/v1/me/invitations", headers=cyrus.headers)).json()[0][
        "chat_id"
    ] == chat
    # Bita accepts: she is a member, shown to the group (she chose to join).
    accepted = await strict.http.post(
        f"/v1/me/invitations/{invitation['id']}/accept", headers=bita.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == chat
    assert any(c["id"] == chat for c in await chat_list(strict, bita))
    assert await shows(strict, eve, bita)
    assert (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json() == []
    # Cyrus declines: gone, and he is not in the group.
    cyrus_id = (await strict.http.get("/v1/me/invitations", headers=cyrus.headers)).json()[0]["id"]
    declined = await strict.http.delete(f"/v1/me/invitations/{cyrus_id}", headers=cyrus.headers)
    assert declined.status_code == 204
    assert (await strict.http.get("/v1/me/invitations", headers=cyrus.headers)).json() == []
    assert cyrus.user_id not in {
        m["user_id"] for m in (await get_chat(strict, eve, chat))["members"]
    }
    assert not await shows(strict, eve, cyrus)


async def test_adding_a_stranger_to_an_existing_group_invites_them(strict: Harness) -> None:
    ali, bita = await person(strict, ALI), await person(strict, BITA)
    chat = (await group(strict, ali))["id"]
    added = await strict.http.post(
        f"/v1/chats/{chat}/members", json={"user_ids": [bita.user_id]}, headers=ali.headers
    )
    assert added.status_code == 204, added.text
    assert {m["user_id"] for m in (await get_chat(strict, ali, chat))["members"]} == {ali.user_id}
    listed = (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json()
    assert [i["chat_id"] for i in listed] == [chat]
    # Inviting again makes no second invitation; once Bita holds Ali's number he adds her.
    await strict.http.post(
        f"/v1/chats/{chat}/members", json={"user_ids": [bita.user_id]}, headers=ali.headers
    )
    assert len((await strict.http.get("/v1/me/invitations", headers=bita.headers)).json()) == 1
    await holds(strict, bita, ali)
    await strict.http.post(
        f"/v1/chats/{chat}/members", json={"user_ids": [bita.user_id]}, headers=ali.headers
    )
    assert bita.user_id in {m["user_id"] for m in (await get_chat(strict, ali, chat))["members"]}
    assert (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json() == []


async def test_chats_with_strangers_per_day_are_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"stranger_chats_per_user": "3/86400"})
    eve = await person(harness, EVE, photo=False)
    friend = await person(harness, ALI, photo=False)
    others = [await person(harness, p, photo=False) for p in (BITA, CYRUS, DARA)]
    extra = await harness.sign_in("+989125550009", "Extra")
    await holds(harness, eve, friend)
    # Someone whose number Eve holds is no stranger: free.
    assert (await start_direct(harness, eve, friend.user_id)).status_code == 201
    for other in others[:2]:
        assert (await start_direct(harness, eve, other.user_id)).status_code == 201
    # Opening the same chat again costs nothing.
    assert (await start_direct(harness, eve, others[0].user_id)).status_code == 200
    # A group adding two strangers needs two tokens; one is left: refused, nothing written.
    refused = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "G", "member_ids": [others[2].user_id, extra.user_id]},
        headers=eve.headers,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_strangers"
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(await chat_list(harness, eve)) == 3
    assert (await start_direct(harness, eve, others[2].user_id)).status_code == 201
    limited = await start_direct(harness, eve, extra.user_id)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    harness.clock.advance(86400)
    assert (await start_direct(harness, eve, extra.user_id)).status_code == 201


async def test_an_invitation_goes_with_the_account_and_the_group(strict: Harness) -> None:
    ali, bita, cyrus = (
        await person(strict, ALI),
        await person(strict, BITA),
        await person(strict, CYRUS),
    )
    first = (await group(strict, ali, bita))["id"]
    await group(strict, cyrus, bita)
    assert len((await strict.http.get("/v1/me/invitations", headers=bita.headers)).json()) == 2
    deleted = await strict.http.delete(f"/v1/chats/{first}?delete=true", headers=ali.headers)
    assert deleted.status_code == 204
    listed = (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json()
    assert [i["invited_by"] for i in listed] == [cyrus.user_id]
    # In the invitee's export, and erased with either account (services/erasure.py).
    export = await strict.http.get("/v1/me/export", headers=bita.headers)
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        data = json.loads(archive.read("export.json"))
    assert [r["invited_by"] for r in data["other_records"]["group_invitations"]] == [cyrus.user_id]
    await erase(strict, cyrus, await fresh_code(strict, cyrus))
    assert (await strict.http.get("/v1/me/invitations", headers=bita.headers)).json() == []
