"""Issue 9, defect 11: blocking silences typing, both ways, in direct chats and groups; the
other members still see it."""

from __future__ import annotations

from tests.realtime.conftest import Chatters, open_socket, sqlite_only


@sqlite_only
async def test_blocking_silences_typing_both_ways(chatters: Chatters) -> None:
    c = chatters
    blocked = await c.harness.http.post(
        "/v1/blocks", json={"user_id": c.ali.user_id}, headers=c.bita.headers
    )
    assert blocked.is_success, blocked.text
    async with (
        open_socket(c.server, c.ali.token) as ali,
        open_socket(c.server, c.bita.token) as bita,
        open_socket(c.server, c.cyrus.token) as cyrus,
    ):
        for sock, who in ((ali, c.ali), (bita, c.bita), (cyrus, c.cyrus)):
            await sock.resume(await c.last_seq(who))
        # The blocked one types in the group and in the direct chat: only Cyrus hears it.
        await ali.send(type="typing", chat_id=c.group_id)
        await ali.send(type="typing", chat_id=c.direct_id)
        assert await cyrus.next("typing") == {
            "type": "typing",
            "chat_id": c.group_id,
            "user_id": c.ali.user_id,
        }
        # The blocker types in the group: Cyrus hears it, the blocked one does not.
        await bita.send(type="typing", chat_id=c.group_id)
        assert await cyrus.next("typing") == {
            "type": "typing",
            "chat_id": c.group_id,
            "user_id": c.bita.user_id,
        }
        # Absence, proved by what comes next: each gets the message that follows, and no
        # typing frame before it.
        await c.send_http(c.cyrus, c.group_id, "after typing")
        for sock in (ali, bita):
            frames = await sock.until(lambda f: f["type"] == "update")
            assert [f["type"] for f in frames] == ["update"], frames


@sqlite_only
async def test_an_invitation_reaches_the_invitees_socket_as_an_update(chatters: Chatters) -> None:
    """P3.2: someone whose group_adds does not let the inviter add them hears of the
    invitation live (docs/realtime.md, ``invitation_new``)."""
    c = chatters
    await c.harness.http.patch("/v1/me", json={"group_adds": "contacts"}, headers=c.cyrus.headers)
    async with open_socket(c.server, c.cyrus.token) as cyrus:
        await cyrus.resume(await c.last_seq(c.cyrus))
        created = await c.harness.http.post(
            "/v1/chats",
            json={"type": "group", "title": "Ask", "member_ids": [c.cyrus.user_id]},
            headers=c.ali.headers,
        )
        assert created.json()["invited"] == [c.cyrus.user_id], created.text
        frame = await cyrus.next("update")
        assert frame["kind"] == "invitation_new" and frame["chat_id"] is None
        invitation = frame["invitation"]
        assert (invitation["chat_id"], invitation["invited_by"], invitation["title"]) == (
            created.json()["id"],
            c.ali.user_id,
            "Ask",
        )
