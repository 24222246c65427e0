"""Sessions and devices (P1.4, P4.1, P9.1): every signed-in device is seen and can be ended."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from payam.storage.tables import devices
from tests.conftest import DEVICE, Harness

PHONE = "+989123456789"
OTHER = "+989121111111"
LAPTOP = {"model": "ThinkPad X1", "os": "Linux 6.8", "app_version": "web 2.3.1"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_opens_the_api(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    assert (await harness.http.get("/v1/devices", headers=account.headers)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_requests_without_a_bearer_token_are_401_missing_token(
    harness: Harness, headers: dict[str, str]
) -> None:
    response = await harness.http.get("/v1/devices", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["garbage", "x" * 43, "x" * 5000, "ünïcödé", "Bearer Bearer"])
async def test_unknown_tokens_are_401_invalid_token(harness: Harness, token: str) -> None:
    await harness.sign_in(PHONE)
    response = await harness.http.get(
        "/v1/devices", headers={"Authorization": f"Bearer {token}".encode()}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/devices"), ("DELETE", "/v1/devices/1"), ("DELETE", "/v1/auth/session")],
)
async def test_every_session_route_needs_a_token(harness: Harness, method: str, path: str) -> None:
    account = await harness.sign_in(PHONE)
    response = await harness.http.request(method, path)
    assert response.status_code == 401
    # Nothing was done without the token.
    listed = await harness.http.get("/v1/devices", headers=account.headers)
    assert [d["id"] for d in listed.json()] == [account.device_id]


async def test_sign_out_ends_the_session_at_once(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    response = await harness.http.delete("/v1/auth/session", headers=account.headers)
    assert response.status_code == 204
    for method, path in (("GET", "/v1/devices"), ("GET", "/v1/me"), ("DELETE", "/v1/auth/session")):
        after = await harness.http.request(method, path, headers=account.headers)
        assert after.status_code == 401, path
        assert after.json()["error"]["code"] == "invalid_token"


async def test_sign_out_ends_only_this_device(harness: Harness) -> None:
    phone_session = await harness.sign_in(PHONE)
    laptop_session = await harness.sign_in(PHONE, device=LAPTOP)
    await harness.http.delete("/v1/auth/session", headers=phone_session.headers)
    listed = await harness.http.get("/v1/devices", headers=laptop_session.headers)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()] == [laptop_session.device_id]


async def test_devices_list_model_os_version_and_activity(harness: Harness) -> None:
    signed_in_at = harness.clock.now()
    phone_client = harness.client(ip="203.0.113.10")
    phone_session = await harness.sign_in(PHONE, client=phone_client)
    laptop_client = harness.client(ip="198.51.100.20")
    laptop_session = await harness.sign_in(PHONE, device=LAPTOP, client=laptop_client)

    # The phone is used later, from another network.
    harness.clock.advance(600)
    used_at = harness.clock.now()
    roaming = harness.client(ip="192.0.2.30")
    response = await roaming.get("/v1/devices", headers=phone_session.headers)
    assert response.status_code == 200
    listed = {d["id"]: d for d in response.json()}
    assert set(listed) == {phone_session.device_id, laptop_session.device_id}

    phone = listed[phone_session.device_id]
    assert {k: phone[k] for k in ("model", "os", "app_version")} == DEVICE
    assert phone["created_at"] == iso(signed_in_at)
    assert phone["last_active_at"] == iso(used_at)
    assert phone["last_ip"] == "192.0.2.30"
    assert phone["current"] is True

    laptop = listed[laptop_session.device_id]
    assert {k: laptop[k] for k in ("model", "os", "app_version")} == LAPTOP
    assert laptop["last_ip"] == "198.51.100.20"
    assert laptop["current"] is False
    assert laptop["created_at"] == laptop["last_active_at"]


async def test_last_active_is_written_at_most_once_a_minute(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)

    async def last_active() -> str:
        [device] = (await harness.http.get("/v1/devices", headers=account.headers)).json()
        value: str = device["last_active_at"]
        return value

    first = await last_active()
    harness.clock.advance(30)
    assert await last_active() == first
    harness.clock.advance(30)
    assert await last_active() == iso(harness.clock.now())


async def test_signing_out_another_of_my_devices(harness: Harness) -> None:
    lost_phone = await harness.sign_in(PHONE)
    laptop = await harness.sign_in(PHONE, device=LAPTOP)
    response = await harness.http.delete(
        f"/v1/devices/{lost_phone.device_id}", headers=laptop.headers
    )
    assert response.status_code == 204
    stolen = await harness.http.get("/v1/devices", headers=lost_phone.headers)
    assert stolen.status_code == 401
    listed = await harness.http.get("/v1/devices", headers=laptop.headers)
    assert [d["id"] for d in listed.json()] == [laptop.device_id]
    again = await harness.http.delete(f"/v1/devices/{lost_phone.device_id}", headers=laptop.headers)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "device_not_found"


async def test_a_device_can_sign_itself_out_by_id(harness: Harness) -> None:
    account = await harness.sign_in(PHONE)
    response = await harness.http.delete(
        f"/v1/devices/{account.device_id}", headers=account.headers
    )
    assert response.status_code == 204
    assert (await harness.http.get("/v1/devices", headers=account.headers)).status_code == 401


async def test_nobody_can_sign_out_another_users_device(harness: Harness) -> None:
    victim = await harness.sign_in(PHONE, "Victim")
    attacker = await harness.sign_in(OTHER, "Attacker")
    response = await harness.http.delete(
        f"/v1/devices/{victim.device_id}", headers=attacker.headers
    )
    assert response.status_code == 404
    missing = await harness.http.delete("/v1/devices/999999", headers=attacker.headers)
    # "Not yours" and "does not exist" look the same.
    assert response.json() == missing.json()
    still = await harness.http.get("/v1/devices", headers=victim.headers)
    assert still.status_code == 200
    assert [d["id"] for d in still.json()] == [victim.device_id]


async def test_nobody_sees_another_users_devices(harness: Harness) -> None:
    sara = await harness.sign_in(PHONE, "Sara")
    reza = await harness.sign_in(OTHER, "Reza", device=LAPTOP)
    listed = await harness.http.get("/v1/devices", headers=reza.headers)
    assert [d["id"] for d in listed.json()] == [reza.device_id]
    assert sara.device_id not in [d["id"] for d in listed.json()]


@pytest.mark.parametrize("device_id", ["abc", "1.5", "-1", "0", "99999999999999999999999"])
async def test_odd_device_ids_are_client_errors(harness: Harness, device_id: str) -> None:
    account = await harness.sign_in(PHONE)
    response = await harness.http.delete(f"/v1/devices/{device_id}", headers=account.headers)
    assert response.status_code in (404, 422)
    assert "error" in response.json()
    assert (await harness.http.get("/v1/devices", headers=account.headers)).status_code == 200


async def test_moving_to_a_new_device_keeps_the_account(harness: Harness) -> None:
    """P1.4: the number and its code are all a new device needs; everything stays."""
    old = await harness.sign_in(PHONE, "Sara")
    patched = await harness.http.patch("/v1/me", json={"status": "on holiday"}, headers=old.headers)
    assert patched.status_code == 200

    # On the new phone the sign-in screen asks for a name again; the account keeps its own.
    await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    response = await harness.http.post(
        "/v1/auth/session",
        json={
            "phone": PHONE,
            "code": harness.last_code(PHONE),
            "name": "Intruder",
            "device": LAPTOP,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["created_account"] is False
    assert body["user"]["id"] == old.user_id
    assert body["user"]["name"] == "Sara"
    assert body["device_id"] != old.device_id
    new = bearer(body["token"])

    me = (await harness.http.get("/v1/me", headers=new)).json()
    assert me["id"] == old.user_id
    assert me["name"] == "Sara"
    assert me["status"] == "on holiday"
    assert me["phone"] == PHONE

    listed = await harness.http.get("/v1/devices", headers=new)
    assert [d["model"] for d in listed.json()] == [DEVICE["model"], LAPTOP["model"]]
    # The old device was not signed out by the move.
    assert (await harness.http.get("/v1/me", headers=old.headers)).status_code == 200


async def test_known_number_signs_in_without_a_name(harness: Harness) -> None:
    first = await harness.sign_in(PHONE, "Sara")
    again = await harness.sign_in(PHONE, None, device=LAPTOP)
    assert again.user_id == first.user_id
    assert again.name == "Sara"


async def test_tokens_are_stored_only_as_sha256(harness: Harness) -> None:
    accounts = [await harness.sign_in(PHONE), await harness.sign_in(PHONE, device=LAPTOP)]
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(devices))).all()
    assert len(rows) == 2
    by_id = {row.id: row for row in rows}
    for account in accounts:
        row = by_id[account.device_id]
        assert row.token_hash == hashlib.sha256(account.token.encode()).digest()
        for value in row:
            if isinstance(value, str):
                assert account.token not in value
            if isinstance(value, bytes):
                assert account.token.encode() not in value


async def test_tokens_are_unguessably_long_and_distinct(harness: Harness) -> None:
    tokens = {(await harness.sign_in(PHONE, device=LAPTOP)).token for _ in range(3)}
    assert len(tokens) == 3
    assert all(len(token) >= 40 for token in tokens)


async def test_device_fields_are_validated(harness: Harness) -> None:
    await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    code = harness.last_code(PHONE)
    bad_devices: list[Any] = [
        None,
        {},
        {**DEVICE, "model": ""},
        {**DEVICE, "os": "x" * 500},
        {**DEVICE, "imei": "123"},
        "Pixel",
    ]
    for device in bad_devices:
        response = await harness.http.post(
            "/v1/auth/session", json={"phone": PHONE, "code": code, "name": "S", "device": device}
        )
        assert response.status_code == 422, device
        assert response.json()["error"]["code"] == "invalid_request"
    # None of those spent the code.
    response = await harness.http.post(
        "/v1/auth/session", json={"phone": PHONE, "code": code, "name": "S", "device": DEVICE}
    )
    assert response.status_code == 201
