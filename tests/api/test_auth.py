"""Sign-in by number and code (P1.1, P1.2, P1.3, P1.4, P9.2).

What a user (or an attacker) can observe: the 202 answer and the SMS, the codes that work and
the ones that do not, the waits between codes, and what the database keeps of it all.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from payam.storage.tables import auth_codes, rate_limits, users
from tests.conftest import CODE_RE, DEVICE, Harness

PHONE = "+989123456789"
OTHER = "+989121111111"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def numbers(count: int, start: int = 2000000) -> list[str]:
    return [f"+98912{start + i:07d}" for i in range(count)]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def ask_code(client: httpx.AsyncClient, phone: str) -> httpx.Response:
    return await client.post("/v1/auth/code", json={"phone": phone})


async def try_code(
    client: httpx.AsyncClient, phone: str, code: str, name: str | None = "Sara"
) -> httpx.Response:
    body: dict[str, Any] = {"phone": phone, "code": code, "device": DEVICE}
    if name is not None:
        body["name"] = name
    return await client.post("/v1/auth/session", json=body)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["Retry-After"])


# --- asking for a code -------------------------------------------------------------------------


async def test_code_request_answers_202_with_expiry_and_when_to_ask_again(
    harness: Harness,
) -> None:
    now = harness.clock.now()
    response = await ask_code(harness.http, PHONE)
    assert response.status_code == 202
    body = response.json()
    assert body["expires_in"] == 300
    assert body["expires_at"] == iso(now + 300)
    assert body["retry_after"] == 30
    assert body["next_code_at"] == iso(now + 30)


async def test_code_is_texted_to_the_e164_number_as_six_digits(harness: Harness) -> None:
    await ask_code(harness.http, "+98 912 345 6789")
    [message] = harness.outbox()
    assert message["to"] == PHONE
    assert CODE_RE.search(message["text"])


async def test_codes_are_random(harness: Harness) -> None:
    sent = []
    for phone in numbers(6):
        assert (await ask_code(harness.http, phone)).status_code == 202
        sent.append(harness.last_code(phone))
    assert len(set(sent)) > 1


async def test_local_numbers_use_the_default_region(make_harness: Any) -> None:
    harness: Harness = await make_harness(default_region="IR")
    response = await ask_code(harness.http, "09123456789")
    assert response.status_code == 202
    assert harness.outbox()[-1]["to"] == PHONE
    # The session may be asked for with another spelling of the same number.
    signed_in = await try_code(harness.http, "0912 345 6789", harness.last_code(PHONE))
    assert signed_in.status_code == 201
    assert signed_in.json()["user"]["phone"] == PHONE


async def test_local_numbers_without_a_default_region_are_invalid(harness: Harness) -> None:
    response = await ask_code(harness.http, "09123456789")
    assert response.status_code == 422
    assert error_code(response) == "invalid_phone"


@pytest.mark.parametrize(
    "phone", ["", "12345", "+98912", "+999 123 456 789", "call me maybe", "+989123456789000"]
)
async def test_invalid_numbers_are_422_invalid_phone_and_nothing_is_sent(
    harness: Harness, phone: str
) -> None:
    response = await ask_code(harness.http, phone)
    assert response.status_code == 422
    assert error_code(response) == "invalid_phone"
    assert response.json()["error"]["message"]
    assert harness.outbox() == []


@pytest.mark.parametrize(
    "body",
    [{}, {"phone": 989123456789}, {"phone": None}, {"phone": PHONE, "extra": 1}, [PHONE]],
)
async def test_malformed_code_requests_are_422(harness: Harness, body: Any) -> None:
    response = await harness.http.post("/v1/auth/code", json=body)
    assert response.status_code == 422
    assert error_code(response) == "invalid_request"
    assert harness.outbox() == []


async def test_a_body_that_is_not_json_is_a_client_error(harness: Harness) -> None:
    response = await harness.http.post(
        "/v1/auth/code", content=b"phone=+989123456789", headers={"content-type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


async def test_answer_does_not_reveal_whether_a_number_is_registered(harness: Harness) -> None:
    # Both numbers have the same history of codes; only one of them became an account.
    await ask_code(harness.http, OTHER)
    await harness.sign_in(PHONE, "Sara")
    registered = await ask_code(harness.http, PHONE)
    unregistered = await ask_code(harness.http, OTHER)
    assert registered.status_code == unregistered.status_code == 202
    assert registered.json() == unregistered.json()
    assert set(registered.headers) == set(unregistered.headers)
    # Nor does the text of the SMS (once the code itself is masked).
    texts = [CODE_RE.sub("######", m["text"]) for m in harness.outbox()[-2:]]
    assert texts[0] == texts[1]


async def test_wrong_code_answer_does_not_reveal_whether_a_number_is_registered(
    harness: Harness,
) -> None:
    await harness.sign_in(PHONE, "Sara")
    for phone in (PHONE, OTHER):
        await ask_code(harness.http, phone)
    on_registered = await try_code(harness.http, PHONE, wrong(harness.last_code(PHONE)))
    on_unregistered = await try_code(harness.http, OTHER, wrong(harness.last_code(OTHER)))
    assert on_registered.status_code == on_unregistered.status_code == 422
    assert on_registered.json() == on_unregistered.json()


async def test_wrong_code_answer_does_not_reveal_whether_a_code_was_asked_for(
    harness: Harness,
) -> None:
    await ask_code(harness.http, PHONE)
    asked = await try_code(harness.http, PHONE, wrong(harness.last_code(PHONE)))
    never_asked = await try_code(harness.http, OTHER, "123456")
    assert asked.json() == never_asked.json()


# --- using a code ------------------------------------------------------------------------------


async def test_right_code_opens_a_session_and_creates_the_account(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    response = await try_code(harness.http, PHONE, harness.last_code(PHONE), name="Sara")
    assert response.status_code == 201
    body = response.json()
    assert body["token"]
    assert body["token_type"] == "bearer"
    assert body["created_account"] is True
    assert body["user"]["phone"] == PHONE
    assert body["user"]["name"] == "Sara"
    assert isinstance(body["device_id"], int)
    me = await harness.http.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_first_sign_in_without_name_is_name_required_and_code_stays_valid(
    harness: Harness,
) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    response = await try_code(harness.http, PHONE, code, name=None)
    assert response.status_code == 422
    assert error_code(response) == "name_required"
    response = await try_code(harness.http, PHONE, code, name="Sara")
    assert response.status_code == 201
    assert response.json()["user"]["name"] == "Sara"


@pytest.mark.parametrize("name", ["", "   "])
async def test_first_sign_in_with_an_empty_name_is_refused_and_no_account_made(
    harness: Harness, name: str
) -> None:
    await ask_code(harness.http, PHONE)
    response = await try_code(harness.http, PHONE, harness.last_code(PHONE), name=name)
    assert response.status_code == 422
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(users.c.id))).all() == []


async def test_wrong_code_is_invalid_code_and_the_right_one_still_works(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    response = await try_code(harness.http, PHONE, wrong(code))
    assert response.status_code == 422
    assert error_code(response) == "invalid_code"
    assert (await try_code(harness.http, PHONE, code)).status_code == 201


async def test_code_of_another_number_does_not_work(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    await ask_code(harness.http, OTHER)
    response = await try_code(harness.http, PHONE, harness.last_code(OTHER))
    assert response.status_code == 422
    assert error_code(response) == "invalid_code"


async def test_a_code_without_asking_for_one_is_invalid(harness: Harness) -> None:
    response = await try_code(harness.http, PHONE, "123456")
    assert response.status_code == 422
    assert error_code(response) == "invalid_code"


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12 345", ""])
async def test_malformed_codes_are_invalid_code(harness: Harness, code: str) -> None:
    await ask_code(harness.http, PHONE)
    response = await try_code(harness.http, PHONE, code)
    assert response.status_code == 422
    assert error_code(response) == "invalid_code"


async def test_code_typed_with_persian_digits_works(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    persian = code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    response = await try_code(harness.http, PHONE, persian)
    assert response.status_code == 201, response.text


async def test_code_works_until_it_expires(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    harness.clock.advance(299)
    assert (await try_code(harness.http, PHONE, harness.last_code(PHONE))).status_code == 201


async def test_expired_code_is_code_expired(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    harness.clock.advance(harness.settings.code_ttl_seconds)
    response = await try_code(harness.http, PHONE, harness.last_code(PHONE))
    assert response.status_code == 422
    assert error_code(response) == "code_expired"


async def test_code_lifetime_is_configurable(make_harness: Any) -> None:
    harness: Harness = await make_harness(code_ttl_seconds=60)
    response = await ask_code(harness.http, PHONE)
    assert response.json()["expires_in"] == 60
    harness.clock.advance(61)
    response = await try_code(harness.http, PHONE, harness.last_code(PHONE))
    assert error_code(response) == "code_expired"


async def test_a_used_code_cannot_be_used_again(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    assert (await try_code(harness.http, PHONE, code)).status_code == 201
    again = await try_code(harness.http, PHONE, code)
    assert again.status_code == 422
    assert error_code(again) == "invalid_code"


async def test_a_new_code_replaces_the_previous_one(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    first = harness.last_code(PHONE)
    harness.clock.advance(30)
    await ask_code(harness.http, PHONE)
    second = harness.last_code(PHONE)
    if first != second:
        response = await try_code(harness.http, PHONE, first)
        assert error_code(response) == "invalid_code"
    assert (await try_code(harness.http, PHONE, second)).status_code == 201


async def test_five_wrong_guesses_burn_the_code(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    for _ in range(4):
        response = await try_code(harness.http, PHONE, wrong(code))
        assert response.status_code == 422
        assert error_code(response) == "invalid_code"
    fifth = await try_code(harness.http, PHONE, wrong(code))
    assert fifth.status_code == 429
    assert error_code(fifth) == "too_many_attempts"
    # The next code may be asked for when the resend schedule allows: 30 s after the first.
    assert retry_after(fifth) == 30
    # Even the right code no longer works.
    response = await try_code(harness.http, PHONE, code)
    assert response.status_code == 429
    assert error_code(response) == "too_many_attempts"
    assert "Retry-After" in response.headers
    # A new code, once allowed, does.
    assert (await ask_code(harness.http, PHONE)).status_code == 429
    harness.clock.advance(30)
    assert (await ask_code(harness.http, PHONE)).status_code == 202
    assert (await try_code(harness.http, PHONE, harness.last_code(PHONE))).status_code == 201


async def test_guesses_on_one_number_do_not_burn_another_numbers_code(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    await ask_code(harness.http, OTHER)
    for _ in range(5):
        await try_code(harness.http, OTHER, wrong(harness.last_code(OTHER)))
    assert (await try_code(harness.http, PHONE, harness.last_code(PHONE))).status_code == 201


async def test_codes_and_numbers_are_stored_only_hashed(make_harness: Any) -> None:
    harness: Harness = await make_harness(default_region="IR")
    await ask_code(harness.http, "0912 345 6789")
    code = harness.last_code(PHONE)
    async with harness.services.db.read() as conn:
        [row] = (await conn.execute(select(auth_codes))).all()
        buckets = (await conn.execute(select(rate_limits))).all()
    stored = repr(tuple(row)) + repr([tuple(b) for b in buckets])
    for secret in (code, PHONE, PHONE[1:], "9123456789", "127.0.0.1"):
        assert secret not in stored
        for value in (*row, *(v for b in buckets for v in b)):
            if isinstance(value, bytes):
                assert secret.encode() not in value
    assert len(row.phone_hash) == 32
    assert len(row.code_hash) == 32

    assert (await try_code(harness.http, "09123456789", code)).status_code == 201
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(users.c.phone))).scalars().all() == [PHONE]
        # Once used, not even the hash of the code is kept.
        used = (await conn.execute(select(auth_codes.c.code_hash))).scalar_one()
    assert used is None


# --- throttling codes to one number ------------------------------------------------------------


async def test_code_sends_to_one_number_follow_growing_waits(harness: Harness) -> None:
    assert harness.settings.code_resend_waits == (30, 60, 300, 900, 3600)
    first = await ask_code(harness.http, PHONE)
    assert first.status_code == 202
    for expected_wait, next_wait in ((30, 60), (60, 300), (300, 900), (900, 3600)):
        too_soon = await ask_code(harness.http, PHONE)
        assert too_soon.status_code == 429
        assert error_code(too_soon) == "code_resend_too_soon"
        assert retry_after(too_soon) == expected_wait
        harness.clock.advance(expected_wait - 1)
        assert retry_after(await ask_code(harness.http, PHONE)) == 1
        harness.clock.advance(1)
        sent = await ask_code(harness.http, PHONE)
        assert sent.status_code == 202, sent.text
        assert sent.json()["retry_after"] == next_wait
        assert sent.json()["next_code_at"] == iso(harness.clock.now() + next_wait)
    # The longest wait repeats.
    harness.clock.advance(3600)
    assert (await ask_code(harness.http, PHONE)).json()["retry_after"] == 3600
    assert len(harness.outbox()) == 6


async def test_a_refused_resend_sends_nothing_and_keeps_the_code(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    code = harness.last_code(PHONE)
    assert (await ask_code(harness.http, PHONE)).status_code == 429
    assert len(harness.outbox()) == 1
    assert (await try_code(harness.http, PHONE, code)).status_code == 201


async def test_resend_schedule_starts_again_after_a_quiet_day(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    harness.clock.advance(30)
    await ask_code(harness.http, PHONE)
    harness.clock.advance(86400)
    response = await ask_code(harness.http, PHONE)
    assert response.json()["retry_after"] == 30


async def test_resend_waits_are_configurable(make_harness: Any) -> None:
    harness: Harness = await make_harness(code_resend_waits="5,7")
    assert (await ask_code(harness.http, PHONE)).json()["retry_after"] == 5
    assert retry_after(await ask_code(harness.http, PHONE)) == 5
    harness.clock.advance(5)
    assert (await ask_code(harness.http, PHONE)).json()["retry_after"] == 7


async def test_one_numbers_wait_does_not_hold_up_another(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    assert (await ask_code(harness.http, OTHER)).status_code == 202


# --- throttling per client address -------------------------------------------------------------


async def test_codes_per_address_are_limited_and_other_addresses_unaffected(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"auth_code_per_ip": "2/3600"})
    pumper = harness.client(ip="198.51.100.7")
    first, second, third = numbers(3)
    assert (await ask_code(pumper, first)).status_code == 202
    assert (await ask_code(pumper, second)).status_code == 202
    refused = await ask_code(pumper, third)
    assert error_code(refused) == "too_many_code_requests"
    # One token comes back every 1800 s.
    assert retry_after(refused) == 1800
    assert [m["to"] for m in harness.outbox()] == [first, second]

    neighbour = harness.client(ip="198.51.100.8")
    assert (await ask_code(neighbour, third)).status_code == 202

    harness.clock.advance(1800)
    assert (await ask_code(pumper, numbers(1, start=3000000)[0])).status_code == 202


async def test_default_codes_per_address(harness: Harness) -> None:
    client = harness.client(ip="198.51.100.9")
    for phone in numbers(10):
        assert (await ask_code(client, phone)).status_code == 202
    assert retry_after(await ask_code(client, numbers(1, start=3000000)[0])) > 0


async def test_a_resend_refused_per_number_does_not_spend_the_address_budget(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"auth_code_per_ip": "2/3600"})
    for _ in range(5):
        await ask_code(harness.http, PHONE)
    assert (await ask_code(harness.http, OTHER)).status_code == 202


async def test_sign_in_attempts_per_address_are_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"auth_verify_per_ip": "3/3600"})
    guesser = harness.client(ip="198.51.100.7")
    victims = numbers(4)
    for phone in victims:
        await ask_code(harness.http, phone)
    for phone in victims[:3]:
        response = await try_code(guesser, phone, wrong(harness.last_code(phone)))
        assert error_code(response) == "invalid_code"
    refused = await try_code(guesser, victims[3], harness.last_code(victims[3]))
    assert refused.status_code == 429
    assert retry_after(refused) == 1200
    # The code was not even looked at: its owner signs in from their own address.
    owner = harness.client(ip="203.0.113.1")
    assert (await try_code(owner, victims[3], harness.last_code(victims[3]))).status_code == 201


async def test_limits_off_disables_every_throttle(make_harness: Any) -> None:
    harness: Harness = await make_harness(
        rate_limits="off", limits={"auth_code_per_ip": "1/3600", "auth_verify_per_ip": "1/3600"}
    )
    for _ in range(4):
        response = await ask_code(harness.http, PHONE)
        assert response.status_code == 202
        assert response.json()["retry_after"] == 0
    for phone in numbers(4):
        assert (await ask_code(harness.http, phone)).status_code == 202
        assert (await try_code(harness.http, phone, harness.last_code(phone))).status_code == 201


# --- one code, two requests at once ------------------------------------------------------------


async def test_a_code_used_twice_at_once_opens_exactly_one_session(harness: Harness) -> None:
    for round_ in range(3):
        phone = numbers(1, start=4000000 + round_)[0]
        await ask_code(harness.http, phone)
        code = harness.last_code(phone)
        clients = [harness.client(ip=f"203.0.113.{i}") for i in (1, 2)]
        results = await asyncio.gather(*(try_code(c, phone, code) for c in clients))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201, 422], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 422)
        assert error_code(loser) == "invalid_code"
    async with harness.services.db.read() as conn:
        assert len((await conn.execute(select(users.c.id))).all()) == 3


async def test_two_codes_asked_for_at_once_send_one_sms(harness: Harness) -> None:
    results = await asyncio.gather(*(ask_code(harness.client(), PHONE) for _ in range(3)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [202, 429, 429], [r.text for r in results]
    assert len(harness.outbox()) == 1
    assert (await try_code(harness.http, PHONE, harness.last_code(PHONE))).status_code == 201


async def test_sms_text_names_the_service_and_warns_not_to_share(harness: Harness) -> None:
    await ask_code(harness.http, PHONE)
    text = harness.outbox()[-1]["text"]
    assert "payam" in text.lower()
    assert re.search(r"share", text, re.IGNORECASE)
