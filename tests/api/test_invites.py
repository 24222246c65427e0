"""Inviting a number that is not on payam yet (P2.1), within limits (P9.2) that keep it from
being an SMS cannon or a free "is this number registered?" oracle (P2.4)."""

from __future__ import annotations

from typing import Any

from payam.adapters.sms import SmsError
from tests.conftest import Harness

SARA = "+989120000001"
BITA = "+989121110001"
FRIEND = "+989351234567"  # valid, not registered
OTHER_FRIEND = "+989351234568"


async def invite(harness: Harness, headers: dict[str, str], phone: Any) -> Any:
    return await harness.http.post("/v1/invites", json={"phone": phone}, headers=headers)


def texts_to(harness: Harness, phone: str) -> list[str]:
    return [message["text"] for message in harness.outbox() if message["to"] == phone]


async def test_invite_texts_the_number_with_the_inviters_name(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara Tehrani")

    response = await invite(harness, sara.headers, "0935 123 4567")  # local, Sara's region

    assert response.status_code == 202, response.text
    assert response.json() == {"status": "sent", "to": FRIEND}
    [text] = texts_to(harness, FRIEND)
    assert "Sara Tehrani" in text
    assert "payam" in text


async def test_a_registered_number_is_a_clear_conflict_and_gets_no_text(harness: Harness) -> None:
    await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    before = len(harness.outbox())

    for form in (BITA, "0912 111 0001", SARA):
        response = await invite(harness, sara.headers, form)
        assert response.status_code == 409, form
        assert response.json()["error"]["code"] == "already_registered"
    assert len(harness.outbox()) == before


async def test_an_invalid_number_is_422_and_gets_no_text(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    before = len(harness.outbox())

    for phone in ("not a number", "12", "", "+98912111000199999"):
        response = await invite(harness, sara.headers, phone)
        assert response.status_code == 422, phone
        assert response.json()["error"]["code"] == "invalid_phone"
    for body in ({}, {"phone": 9351234567}, {"phone": FRIEND, "name": "Reza"}, {"phone": "1" * 65}):
        response = await harness.http.post("/v1/invites", json=body, headers=sara.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_request"
    assert len(harness.outbox()) == before


async def test_inviting_needs_a_session(harness: Harness) -> None:
    response = await harness.http.post("/v1/invites", json={"phone": FRIEND})
    assert response.status_code == 401
    assert texts_to(harness, FRIEND) == []


async def test_invites_per_user_are_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"invite_per_user": "2/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    assert (await invite(harness, sara.headers, "+989351000001")).status_code == 202
    assert (await invite(harness, sara.headers, "+989351000002")).status_code == 202

    refused = await invite(harness, sara.headers, FRIEND)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_invites"
    assert int(refused.headers["Retry-After"]) == 43200
    assert texts_to(harness, FRIEND) == []
    # Someone else's budget is their own; and Sara's refills.
    assert (await invite(harness, bita.headers, FRIEND)).status_code == 202
    harness.clock.advance(43200)
    assert (await invite(harness, sara.headers, OTHER_FRIEND)).status_code == 202


async def test_one_number_is_invited_at_most_once_a_day_whoever_asks(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    assert (await invite(harness, sara.headers, FRIEND)).status_code == 202

    for account in (sara, bita):
        refused = await invite(harness, account.headers, "0935 123 4567")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "number_recently_invited"
        assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert len(texts_to(harness, FRIEND)) == 1

    harness.clock.advance(86400)
    assert (await invite(harness, bita.headers, FRIEND)).status_code == 202
    assert len(texts_to(harness, FRIEND)) == 2


async def test_invites_cannot_probe_registration_beyond_the_invite_budget(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"invite_per_user": "3/86400"})
    await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")

    # Each answer costs: registered (409) and not (202) alike.
    answers = [
        (await invite(harness, sara.headers, phone)).status_code
        for phone in (BITA, FRIEND, BITA, OTHER_FRIEND)
    ]

    assert answers == [409, 202, 409, 429]
    # Once spent, a registered and an unregistered number answer alike.
    registered = await invite(harness, sara.headers, BITA)
    unregistered = await invite(harness, sara.headers, "+989351000009")
    assert (registered.status_code, unregistered.status_code) == (429, 429)
    assert registered.json() == unregistered.json()


class BrokenGateway:
    async def send(self, to: str, text: str) -> None:
        raise SmsError("gateway down")


async def test_an_invitation_the_gateway_refused_costs_nothing(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"invite_per_user": "1/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    working = harness.services.contacts.sms
    harness.services.contacts.sms = BrokenGateway()

    failed = await invite(harness, sara.headers, FRIEND)

    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "sms_unavailable"
    # Neither the number (a day's wait) nor Sara (her one invite) paid for a text never sent.
    harness.services.contacts.sms = working
    assert (await invite(harness, sara.headers, FRIEND)).status_code == 202
    assert len(texts_to(harness, FRIEND)) == 1
