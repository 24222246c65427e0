"""Policy versions and notices (P12.1): users are told of important changes, on the socket's
update log and in GET /v1/me/notices, and the server records which version each user saw."""

from __future__ import annotations

from typing import Any

from payam.storage import notices
from tests.conftest import Harness

SARA = "+989120000001"
BITA = "+989121110001"
CYRUS = "+989121110002"


async def notices_of(harness: Harness, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await harness.http.get("/v1/me/notices", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["notices"]
    return found


async def test_an_important_version_reaches_every_user_as_an_update_and_a_notice(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")

    done = await harness.services.policy.publish("Policy v2 text", important=True, version="2.0")

    assert done.notified == 2
    for who in (sara, bita):
        updates = (await harness.http.get("/v1/updates?after=0", headers=who.headers)).json()
        notice_updates = [u for u in updates["updates"] if u["kind"] == "notice"]
        assert len(notice_updates) == 1
        assert notice_updates[0]["notice"]["policy"]["version"] == "2.0"
        listed = await notices_of(harness, who.headers)
        assert [(n["kind"], n["policy"]["version"]) for n in listed] == [("policy", "2.0")]
        assert listed[0]["seen_at"] is None  # new when listed; seen from now on
    again = await notices_of(harness, sara.headers)
    assert again[0]["seen_at"] is not None and again[0]["acknowledged_at"] is None


async def test_acknowledging_records_when_and_another_users_notice_is_404(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await harness.services.policy.publish("v1", important=True)
    notice_id = (await notices_of(harness, sara.headers))[0]["id"]

    stranger = await harness.http.post(f"/v1/me/notices/{notice_id}/ack", headers=bita.headers)
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "notice_not_found"
    missing = await harness.http.post("/v1/me/notices/999999/ack", headers=sara.headers)
    assert missing.status_code == 404

    first = await harness.http.post(f"/v1/me/notices/{notice_id}/ack", headers=sara.headers)
    assert first.status_code == 200
    harness.clock.advance(60)
    second = await harness.http.post(f"/v1/me/notices/{notice_id}/ack", headers=sara.headers)
    assert second.json()["acknowledged_at"] == first.json()["acknowledged_at"] is not None
    async with harness.services.db.read() as conn:
        row = await notices.get_for_user(conn, sara.user_id, notice_id)
    assert row is not None and row.acknowledged_at is not None and row.seen_at is not None


async def test_an_unimportant_version_notifies_nobody_who_was_shown_one(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await harness.services.policy.publish("v1", important=True)
    await notices_of(harness, sara.headers)

    done = await harness.services.policy.publish("v1 with a typo fixed", important=False)

    assert done.notified == 0
    assert [n["policy"]["version"] for n in await notices_of(harness, sara.headers)] == ["1"]


async def test_a_user_who_signs_up_later_is_shown_the_current_version(harness: Harness) -> None:
    await harness.services.policy.publish("v1", important=True)
    await harness.services.policy.publish("v2", important=False)

    cyrus = await harness.sign_in(CYRUS, "Cyrus")

    listed = await notices_of(harness, cyrus.headers)
    assert [(n["kind"], n["policy"]["version"]) for n in listed] == [("policy", "2")]
    assert (await notices_of(harness, cyrus.headers))[0]["seen_at"] is not None


async def test_the_current_policy_is_public(harness: Harness) -> None:
    assert (await harness.http.get("/v1/policy")).status_code == 404
    await harness.services.policy.publish("Text one", important=True)
    await harness.services.policy.publish("Text two", important=False, version="2025-01")

    body = (await harness.http.get("/v1/policy")).json()

    assert body["version"] == "2025-01" and body["text"] == "Text two"
    assert body["important"] is False and len(body["sha256"]) == 64


async def test_notices_need_a_session(harness: Harness) -> None:
    assert (await harness.http.get("/v1/me/notices")).status_code == 401
