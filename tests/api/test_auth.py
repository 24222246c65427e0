"""Sign-in by number and code (P1.1, P1.2, P1.3, P1.4)."""

from __future__ import annotations

from tests.conftest import DEVICE, Harness

PHONE = "+989123456789"


async def test_first_sign_in_creates_account_with_name(harness: Harness) -> None:
    account = await harness.sign_in(PHONE, "Sara")
    response = await harness.http.get("/v1/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["phone"] == PHONE
    assert response.json()["name"] == "Sara"


async def test_first_sign_in_without_name_is_name_required_and_code_stays_valid(
    harness: Harness,
) -> None:
    await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    code = harness.last_code(PHONE)
    body = {"phone": PHONE, "code": code, "device": DEVICE}
    response = await harness.http.post("/v1/auth/session", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "name_required"
    response = await harness.http.post("/v1/auth/session", json={**body, "name": "Sara"})
    assert response.status_code == 201
