"""P11.2: the number is corrected by a verified flow; matching follows the new number."""

from __future__ import annotations

from tests.conftest import Account, Harness

NEW = "+989120000009"


async def new_number_code(harness: Harness, account: Account, phone: str = NEW) -> str:
    response = await harness.http.post(
        "/v1/me/phone/code", json={"phone": phone}, headers=account.headers
    )
    assert response.status_code == 202, response.text
    return harness.last_code(phone)


async def holds(harness: Harness, holder: Account, phone: str) -> bool:
    response = await harness.http.put(
        "/v1/contacts", json={"phones": [phone]}, headers=holder.headers
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["registered"])


async def test_number_change_switches_the_account_and_who_matches_it(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    assert await holds(harness, omid, sara.phone)
    code = await new_number_code(harness, sara)
    response = await harness.http.post(
        "/v1/me/phone", json={"phone": NEW, "code": code}, headers=sara.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == NEW
    # Omid's book holds the old number: it no longer matches Sara (nor shows her profile).
    assert not await holds(harness, omid, "+989120000001")
    assert (await harness.http.get(f"/v1/users/{sara.user_id}", headers=omid.headers)).json().get(
        "name"
    ) is None
    assert await holds(harness, omid, NEW)
    # Sara signs in with the new number to the same account.
    harness.clock.advance(3600)
    again = await harness.sign_in(NEW, None)
    assert again.user_id == sara.user_id


async def test_a_wrong_code_or_a_code_for_another_number_is_refused(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    await new_number_code(harness, sara)
    response = await harness.http.post(
        "/v1/me/phone", json={"phone": NEW, "code": "000000"}, headers=sara.headers
    )
    assert response.status_code == 422
    # A code for Sara's own number does not prove control of the new one.
    harness.clock.advance(3600)
    await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    response = await harness.http.post(
        "/v1/me/phone",
        json={"phone": NEW, "code": harness.last_code(sara.phone)},
        headers=sara.headers,
    )
    assert response.status_code == 422
    me = (await harness.http.get("/v1/me", headers=sara.headers)).json()
    assert me["phone"] == sara.phone


async def test_a_number_that_already_has_an_account_is_409(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    code = await new_number_code(harness, sara, omid.phone)
    response = await harness.http.post(
        "/v1/me/phone", json={"phone": omid.phone, "code": code}, headers=sara.headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phone_taken"


async def test_the_code_sends_follow_the_sign_in_throttle(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    await new_number_code(harness, sara)
    response = await harness.http.post(
        "/v1/me/phone/code", json={"phone": NEW}, headers=sara.headers
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "code_resend_too_soon"


async def test_number_change_needs_a_session(harness: Harness) -> None:
    assert (await harness.http.post("/v1/me/phone/code", json={"phone": NEW})).status_code == 401
    response = await harness.http.post("/v1/me/phone", json={"phone": NEW, "code": "123456"})
    assert response.status_code == 401
