"""``GET /v1/calls/turn``: coturn's TURN REST API credentials, short-lived and rate limited."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from tests.conftest import Harness

SECRET = "turn-shared-secret-" + "z" * 20
URIS = "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349"


async def test_turn_credentials_follow_the_turn_rest_api_scheme(make_harness: Any) -> None:
    harness: Harness = await make_harness(turn_uris=URIS, turn_secret=SECRET)
    sara = await harness.sign_in("+989120000301", "Sara")
    response = await harness.http.get("/v1/calls/turn", headers=sara.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["uris"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    ]
    assert body["ttl"] == 3600
    expiry, user = body["username"].split(":")
    assert int(user) == sara.user_id
    assert int(expiry) == int(harness.clock.now()) + 3600
    digest = hmac.new(SECRET.encode(), body["username"].encode(), hashlib.sha1).digest()
    assert body["password"] == base64.b64encode(digest).decode()


async def test_turn_credentials_need_a_session_and_a_configured_relay(harness: Harness) -> None:
    assert (await harness.http.get("/v1/calls/turn")).status_code == 401
    sara = await harness.sign_in("+989120000302", "Sara")
    response = await harness.http.get("/v1/calls/turn", headers=sara.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "turn_not_configured"


async def test_turn_credentials_are_rate_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(
        turn_uris=URIS, turn_secret=SECRET, limits={"turn_credentials_per_user": "2/3600"}
    )
    sara = await harness.sign_in("+989120000303", "Sara")
    for _ in range(2):
        assert (await harness.http.get("/v1/calls/turn", headers=sara.headers)).status_code == 200
    response = await harness.http.get("/v1/calls/turn", headers=sara.headers)
    assert response.status_code == 429
    assert "retry-after" in response.headers
