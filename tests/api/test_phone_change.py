"""P11.2: the number is corrected by a verified flow; matching follows the new number."""

from __future__ import annotations

from tests.conftest import DEVICE, Account, Harness

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


def _shape(answer: dict[str, object]) -> tuple[object, ...]:
    # The waits depend on the number's own history of sends, registered or not.
    return (sorted(answer), answer["expires_in"])


async def test_a_number_with_an_account_is_texted_nothing_and_cannot_be_taken(
    harness: Harness,
) -> None:
    """Issue 9 #8: the holder of the number is not sent a code they never asked for, and the
    caller's answer is the one a free number gets, so it does not tell who is registered."""
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    # Omid has just asked for a sign-in code of his own; Sara's attempt must not spoil it.
    assert (await harness.http.post("/v1/auth/code", json={"phone": omid.phone})).status_code == 202
    omids_code = harness.last_code(omid.phone)
    sms_before = len(harness.outbox())
    harness.clock.advance(61)  # past the wait after Omid's own request

    taken = await harness.http.post(
        "/v1/me/phone/code", json={"phone": omid.phone}, headers=sara.headers
    )
    free = await harness.http.post("/v1/me/phone/code", json={"phone": NEW}, headers=sara.headers)
    assert taken.status_code == free.status_code == 202
    assert _shape(taken.json()) == _shape(free.json())
    assert [m["to"] for m in harness.outbox()[sms_before:]] == [NEW]
    # A second try at the taken number is throttled exactly as a sent code would be.
    again = await harness.http.post(
        "/v1/me/phone/code", json={"phone": omid.phone}, headers=sara.headers
    )
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "code_resend_too_soon"

    response = await harness.http.post(
        "/v1/me/phone", json={"phone": omid.phone, "code": "123456"}, headers=sara.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_code"
    me = (await harness.http.get("/v1/me", headers=sara.headers)).json()
    assert me["phone"] == sara.phone
    assert [m["to"] for m in harness.outbox()[sms_before:]] == [NEW]
    harness.clock.advance(60)
    back = await harness.http.post(
        "/v1/auth/session",
        json={"phone": omid.phone, "code": omids_code, "device": DEVICE},
    )
    assert back.status_code == 201, back.text


async def test_a_number_in_its_erasure_cool_down_is_texted_nothing(harness: Harness) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    gone = await harness.sign_in("+989120000003", "Gone")
    harness.clock.advance(3600)
    await harness.http.post("/v1/auth/code", json={"phone": gone.phone})
    erased = await harness.http.request(
        "DELETE", "/v1/me", json={"code": harness.last_code(gone.phone)}, headers=gone.headers
    )
    assert erased.status_code == 200, erased.text
    sms_before = len(harness.outbox())
    response = await harness.http.post(
        "/v1/me/phone/code", json={"phone": gone.phone}, headers=sara.headers
    )
    assert response.status_code == 202
    assert harness.outbox()[sms_before:] == []


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
