"""Issue 9.2 across processes: two apps share one PostgreSQL and a Redis channel. A session
ended through one closes its sockets held by the other, and the other's session cache stops
honouring it at once, not when its entry expires (the clocks here never move, so an entry
would never expire: only the session end on the bus can make the second app refuse).

Needs PostgreSQL and Redis (each skips without its server; ``PAYAM_REQUIRE_POSTGRES=1`` and
``PAYAM_REQUIRE_REDIS=1`` make their absence a failure)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.api.test_admin import make_admin
from tests.conftest import skip_without_redis
from tests.realtime.conftest import open_socket
from tests.realtime.test_session_end import closed_with

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


async def two_apps(make_harness: Any) -> tuple[Any, Any]:
    await skip_without_redis()
    bus = {"event_bus": "redis", "redis_channel": f"payam-test:{secrets.token_hex(6)}"}
    return await make_harness(**bus), await make_harness(**bus)


async def test_a_device_removed_through_one_process_is_refused_and_closed_by_the_other(
    make_harness: Any, serve_live: Any
) -> None:
    here, there = await two_apps(make_harness)
    server = await serve_live(there)
    ali = await here.sign_in("+989121180001", "Ali")
    phone = await here.sign_in(ali.phone, None)
    # The other process has looked the session up: it is in its cache.
    assert (await there.http.get("/v1/me", headers=phone.headers)).status_code == 200
    async with open_socket(server, phone.token) as sock:
        await sock.resume(0)
        response = await here.http.delete(f"/v1/devices/{phone.device_id}", headers=ali.headers)
        assert response.status_code == 204, response.text
        assert await closed_with(sock) == (4401, "session_ended")
    refused = await there.http.get("/v1/me", headers=phone.headers)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "invalid_token"
    assert (await there.http.get("/v1/me", headers=ali.headers)).status_code == 200


async def test_a_suspension_through_one_process_closes_and_refuses_on_the_other(
    make_harness: Any, serve_live: Any
) -> None:
    here, there = await two_apps(make_harness)
    server = await serve_live(there)
    admin = await make_admin(here, "+989121180009")
    sara = await here.sign_in("+989121180002", "Sara")
    assert (await there.http.get("/v1/me", headers=sara.headers)).status_code == 200
    async with open_socket(server, sara.token) as sock:
        await sock.resume(0)
        response = await here.http.post(
            f"/v1/admin/users/{sara.user_id}/suspend", headers=admin.headers
        )
        assert response.status_code == 204, response.text
        assert await closed_with(sock) == (4401, "account_suspended")
    refused = await there.http.get("/v1/me", headers=sara.headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "account_suspended"
