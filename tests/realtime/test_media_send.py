"""``media_ids`` on the WebSocket ``send`` frame: checked as over HTTP, and the message that
reaches the other members carries the files."""

from __future__ import annotations

from tests.realtime.conftest import Chatters, open_socket, sqlite_only


@sqlite_only
async def test_a_socket_send_carries_media_and_refuses_what_http_refuses(
    chatters: Chatters,
) -> None:
    c = chatters
    response = await c.harness.http.post(
        "/v1/media",
        files={"file": ("a.pdf", b"%PDF-1.7\nPAYAM\n%%EOF\n", "application/pdf")},
        headers=c.ali.headers,
    )
    assert response.status_code == 201, response.text
    item = response.json()
    async with open_socket(c.server, c.ali.token) as sock:
        await sock.resume(await c.last_seq(c.ali))
        refusals = [
            ({"media_ids": "7"}, "invalid_media_ids"),
            ({"media_ids": [item["id"], item["id"]]}, "duplicate_media"),
            ({"media_ids": [item["id"] + 1000]}, "media_not_found"),
        ]
        for n, (extra, code) in enumerate(refusals):
            frame = {"type": "send", "chat_id": c.direct_id, "client_id": f"bad-{n}", **extra}
            await sock.send(**frame)
            error = await sock.next("error")
            assert error["error"]["code"] == code, extra
        await sock.send(type="send", chat_id=c.direct_id, client_id="m-1", media_ids=[item["id"]])
        ack = await sock.next("ack")
        assert ack["message"]["media"] == [item]
        assert ack["message"]["text"] is None
    history = await c.harness.http.get(f"/v1/chats/{c.direct_id}/messages", headers=c.bita.headers)
    assert history.json()["messages"][-1]["media"] == [item]
    served = await c.harness.http.get(item["url"], headers=c.bita.headers)
    assert served.status_code == 200
