"""Web Push (docs/push.md): subscriptions per device, refused endpoints (SSRF), and pushes that
carry nothing but "something new" (P8.1), checked by a stand-in push service on loopback that
verifies the VAPID signature (RFC 8292) and decrypts the payload (RFC 8291)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from sqlalchemy import event, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payam.domain import events
from payam.domain.events import Update
from payam.storage.tables import push_subscriptions
from tests.conftest import Account, Harness, LiveServer
from tests.realtime.conftest import eventually, open_socket

ALLOWED_KEYS = {"type", "unread", "call_id"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of one subscription: its key pair and auth secret."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}


@dataclass
class Received:
    headers: dict[str, str]
    payload: dict[str, Any]


class PushServiceStandIn:
    """A push service: checks each request's VAPID JWT against ``vapid_key`` and decrypts its
    body with the browser's private key. ``answers`` queues statuses per subscription name."""

    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.received: dict[str, list[Received]] = {}
        self.answers: dict[str, list[int]] = {}
        self.vapid_key = ""
        self.port = 0
        self.problems: list[str] = []

    def endpoint(self, browser: Browser) -> str:
        self.browsers[browser.name] = browser
        return f"http://127.0.0.1:{self.port}/push/{browser.name}"

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        try:
            self.check_vapid(request.headers.get("authorization", ""))
            browser = self.browsers[name]
            assert request.headers["content-encoding"] == "aes128gcm"
            plain = http_ece.decrypt(
                body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        except Exception as exc:  # reported by the test, not swallowed
            self.problems.append(repr(exc))
            return Response(status_code=400)
        status = self.answers.get(name, []).pop(0) if self.answers.get(name) else 201
        if status < 300:
            self.received.setdefault(name, []).append(Received(dict(request.headers), payload))
        return Response(status_code=status)

    def check_vapid(self, header: str) -> None:
        assert header.startswith("vapid "), header
        parts = dict(p.strip().split("=", 1) for p in header[6:].split(","))
        assert parts["k"] == self.vapid_key, "signed with another key than GET /v1/push/vapid-key"
        head, claims, signature = parts["t"].split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        raw = unb64url(signature)
        der = utils.encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        body = json.loads(unb64url(claims))
        assert json.loads(unb64url(head))["alg"] == "ES256"
        assert body["aud"] == f"http://127.0.0.1:{self.port}"
        assert time.time() < body["exp"] <= time.time() + 24 * 3600
        assert body["sub"].startswith(("mailto:", "https:"))


@pytest.fixture
async def stand_in() -> AsyncIterator[PushServiceStandIn]:
    service = PushServiceStandIn()
    app = Starlette(routes=[Route("/push/{name}", service.handle, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    service.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    yield service
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert service.problems == []


@pytest.fixture
async def pushing(make_harness: Any, stand_in: PushServiceStandIn) -> Harness:
    harness: Harness = await make_harness(push_allow_hosts="127.0.0.1")
    response = await harness.http.get("/v1/push/vapid-key", headers=await _anyone(harness))
    stand_in.vapid_key = response.json()["key"]
    return harness


async def _anyone(harness: Harness) -> dict[str, str]:
    account = await harness.sign_in("+989120000499", "Someone")
    return account.headers


async def subscribe(harness: Harness, who: Account, endpoint: str, browser: Browser) -> None:
    response = await harness.http.post(
        "/v1/push/subscriptions",
        json={"endpoint": endpoint, "keys": browser.keys()},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text


async def pair(harness: Harness) -> tuple[Account, Account, int]:
    ali = await harness.sign_in("+989120000401", "Ali Secretname")
    bita = await harness.sign_in("+989120000402", "Bita")
    response = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=ali.headers
    )
    assert response.status_code == 201, response.text
    return ali, bita, response.json()["id"]


async def send(harness: Harness, who: Account, chat_id: int, text: str) -> None:
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": f"c-{time.monotonic_ns()}", "text": text},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text


async def test_the_vapid_key_is_made_once_in_the_data_dir_and_served(harness: Harness) -> None:
    headers = await _anyone(harness)
    response = await harness.http.get("/v1/push/vapid-key", headers=headers)
    assert response.status_code == 200, response.text
    key = unb64url(response.json()["key"])
    assert len(key) == 65 and key[0] == 4  # an uncompressed P-256 point
    path = harness.settings.data_dir / "vapid.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        == key
    )
    assert (await harness.http.get("/v1/push/vapid-key")).status_code == 401


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/push/x",
        "https://localhost/push/x",
        "https://10.1.2.3/push/x",
        "https://192.168.0.9/push/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/push/x",
        "https://[fe80::1]/push/x",
        "https://100.64.0.1/push/x",
        "http://push.example.org/x",
        "ftp://push.example.org/x",
        "https://user:pw@push.example.org/x",
        "not a url",
    ],
)
async def test_endpoints_the_server_must_not_call_are_refused(
    harness: Harness, endpoint: str
) -> None:
    sara = await harness.sign_in("+989120000410", "Sara")
    response = await harness.http.post(
        "/v1/push/subscriptions",
        json={"endpoint": endpoint, "keys": Browser("x").keys()},
        headers=sara.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("invalid_endpoint", "invalid_input")


async def test_subscription_bodies_are_strict(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000411", "Sara")
    keys = Browser("x").keys()
    for body in (
        {"endpoint": "https://push.example.org/x"},
        {"endpoint": "https://push.example.org/x", "keys": {**keys, "auth": 5}},
        {"endpoint": "https://push.example.org/x", "keys": {**keys, "extra": "y"}},
        {"endpoint": 7, "keys": keys},
    ):
        response = await harness.http.post(
            "/v1/push/subscriptions", json=body, headers=sara.headers
        )
        assert response.status_code == 422, body


async def test_a_subscription_belongs_to_a_device_and_goes_with_it(
    pushing: Harness, stand_in: PushServiceStandIn
) -> None:
    harness = pushing
    sara = await harness.sign_in("+989120000420", "Sara")
    phone = await harness.sign_in("+989120000420", None)
    browser = Browser("sara")
    endpoint = stand_in.endpoint(browser)
    await subscribe(harness, sara, endpoint, browser)
    await subscribe(harness, phone, endpoint + "-phone", Browser("sara-phone"))
    export = await harness.services.export.collect(sara.user_id)
    exported = export["other_records"]["push_subscriptions"]
    assert {row["endpoint"] for row in exported} == {endpoint, endpoint + "-phone"}
    assert any(f["field"] == "push_subscriptions.endpoint" for f in export["data_map"])

    response = await harness.http.delete("/v1/push/subscriptions", headers=sara.headers)
    assert response.status_code == 204
    response = await harness.http.delete("/v1/push/subscriptions", headers=sara.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "subscription_not_found"

    await subscribe(harness, sara, endpoint, browser)
    response = await harness.http.delete(f"/v1/devices/{sara.device_id}", headers=phone.headers)
    assert response.status_code == 204, response.text
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(push_subscriptions.c.device_id))).all()
    assert [r.device_id for r in rows] == [phone.device_id]


async def test_a_new_message_pushes_only_that_something_is_new(
    pushing: Harness, stand_in: PushServiceStandIn
) -> None:
    harness = pushing
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    await send(harness, ali, chat_id, "the secret plan is on Tuesday")
    await harness.services.push.drain()
    (push,) = stand_in.received["bita"]
    assert push.payload == {"type": "message", "unread": 1}
    assert set(push.payload) <= ALLOWED_KEYS
    assert push.headers["urgency"] == "normal"
    assert int(push.headers["ttl"]) > 0
    # Nothing of the message, the sender or the chat is anywhere in what was sent.
    everything = json.dumps([push.payload, push.headers])
    for secret in ("secret plan", "Secretname", ali.phone, ali.phone[1:]):
        assert secret not in everything
    # The sender's own devices get nothing for their own message.
    assert "ali" not in stand_in.received


async def test_message_pushes_are_coalesced_per_device(
    pushing: Harness, stand_in: PushServiceStandIn
) -> None:
    harness = pushing
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    await send(harness, ali, chat_id, "message 0")
    await harness.services.push.drain()
    for n in (1, 2):
        await send(harness, ali, chat_id, f"message {n}")
    await harness.services.push.drain()
    # The two later messages came within the interval: no push for them yet.
    assert [p.payload for p in stand_in.received["bita"]] == [{"type": "message", "unread": 1}]
    await harness.services.push.tick()  # the interval has not passed
    assert len(stand_in.received["bita"]) == 1
    harness.clock.advance(harness.settings.push_message_interval_seconds)
    await harness.services.push.tick()
    assert [p.payload for p in stand_in.received["bita"]][1:] == [{"type": "message", "unread": 3}]


async def test_muted_chats_and_connected_devices_get_no_push(
    pushing: Harness, stand_in: PushServiceStandIn, serve_live: Any
) -> None:
    harness = pushing
    server: LiveServer = await serve_live(harness)
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    async with open_socket(server, bita.token) as socket_:
        await socket_.resume(0)
        await send(harness, ali, chat_id, "seen live")
        await socket_.next("update")
        await harness.services.push.drain()
    assert "bita" not in stand_in.received
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"muted": True}, headers=bita.headers
    )
    assert response.status_code == 204, response.text
    await send(harness, ali, chat_id, "muted")
    await harness.services.push.drain()
    assert "bita" not in stand_in.received
    await harness.http.patch(f"/v1/chats/{chat_id}", json={"muted": False}, headers=bita.headers)
    await send(harness, ali, chat_id, "heard")
    await harness.services.push.drain()
    assert len(stand_in.received["bita"]) == 1


async def test_an_incoming_call_is_pushed_at_once_with_high_urgency(
    pushing: Harness, stand_in: PushServiceStandIn, serve_live: Any
) -> None:
    harness = pushing
    server: LiveServer = await serve_live(harness)
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    await send(harness, ali, chat_id, "calling you")  # a message push just went
    await harness.services.push.drain()
    async with open_socket(server, ali.token) as a:
        await a.resume(0)
        await a.send(
            type="call.invite", chat_id=chat_id, call_id="ring-bita", sdp="v=0\r\n", video=True
        )
        await eventually(lambda: len(stand_in.received.get("bita", [])) >= 2)
    call = stand_in.received["bita"][1]
    assert call.payload == {"type": "call", "call_id": "ring-bita"}
    assert call.headers["urgency"] == "high"


async def test_gone_subscriptions_are_removed_and_failures_retried(
    pushing: Harness, stand_in: PushServiceStandIn
) -> None:
    harness = pushing
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    stand_in.answers["bita"] = [503]
    await send(harness, ali, chat_id, "first")
    await harness.services.push.drain()
    assert "bita" not in stand_in.received
    harness.clock.advance(2)
    await harness.services.push.tick()
    assert [p.payload for p in stand_in.received["bita"]] == [{"type": "message", "unread": 1}]

    stand_in.answers["bita"] = [410]
    harness.clock.advance(60)
    await send(harness, ali, chat_id, "second")
    await harness.services.push.drain()
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(push_subscriptions))).all() == []


async def test_a_message_to_many_people_without_subscriptions_costs_one_lookup(
    pushing: Harness, stand_in: PushServiceStandIn
) -> None:
    """A group message reaches hundreds of people, most of whom have no push subscription:
    their pushes cost one query for the whole batch, not three each, and the one subscriber
    among them still gets exactly one push."""
    harness = pushing
    ali, bita, chat_id = await pair(harness)
    browser = Browser("bita")
    await subscribe(harness, bita, stand_in.endpoint(browser), browser)
    await send(harness, ali, chat_id, "hello")
    await harness.services.push.drain()
    assert len(stand_in.received["bita"]) == 1
    harness.clock.advance(harness.settings.push_message_interval_seconds)

    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    engine = harness.services.db.reader.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        message = {"sender_id": ali.user_id, "id": 1}
        updates = [
            Update(user_id, 1, events.MESSAGE_NEW, chat_id, 1, None, 0.0, message=message)
            for user_id in [*range(10_000, 10_300), bita.user_id]
        ]
        harness.services.push.on_updates(updates)
        harness.services.push.on_updates(updates[:50])  # a second commit, same round
        await harness.services.push.drain()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    lookups = [s for s in statements if "FROM push_subscriptions" in s]
    assert len(lookups) == 1, lookups  # 301 users in one query (chunks of 512)
    assert [p.payload for p in stand_in.received["bita"]][1:] == [{"type": "message", "unread": 1}]
