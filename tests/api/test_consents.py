"""Cookie categories (P6.1, P6.2): declared, optional ones off until granted, and a refused
category's features really off: no usage counted, no preferences cookie."""

from __future__ import annotations

from sqlalchemy import select

from payam.storage.tables import usage_daily
from tests.conftest import Harness

SARA = "+989120000001"
BITA = "+989121110001"


async def usage_rows(harness: Harness) -> list[dict[str, object]]:
    await harness.services.consents.flush_usage()
    async with harness.services.db.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(usage_daily))]


async def test_every_category_is_declared_and_optional_ones_start_refused(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")

    body = (await harness.http.get("/v1/me/consents", headers=sara.headers)).json()

    by_name = {c["name"]: c for c in body["categories"]}
    assert set(by_name) == {"essential", "preferences", "statistics"}
    assert all(c["purpose"] and c["features"] for c in by_name.values())
    assert by_name["essential"]["optional"] is False and by_name["essential"]["granted"] is True
    assert by_name["preferences"]["granted"] is False
    assert by_name["statistics"]["granted"] is False
    assert body["features"] == {
        "web_session": True,
        "remembered_preferences": False,
        "usage_statistics": False,
    }


async def test_put_sets_the_choices_and_says_which_features_are_on(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")

    response = await harness.http.put(
        "/v1/me/consents", json={"statistics": True}, headers=sara.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["features"]["usage_statistics"] is True
    assert response.json()["features"]["remembered_preferences"] is False
    again = (await harness.http.get("/v1/me/consents", headers=sara.headers)).json()
    stats = next(c for c in again["categories"] if c["name"] == "statistics")
    assert stats["granted"] is True and stats["updated_at"] is not None
    # Omitted categories keep their choice; the essential one cannot be refused.
    await harness.http.put("/v1/me/consents", json={"preferences": True}, headers=sara.headers)
    assert (await harness.http.get("/v1/me/consents", headers=sara.headers)).json()["features"][
        "usage_statistics"
    ] is True
    refused = await harness.http.put(
        "/v1/me/consents", json={"essential": False}, headers=sara.headers
    )
    assert refused.status_code == 422


async def test_refused_statistics_records_nothing_at_all(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for _ in range(3):
        assert (await harness.http.get("/v1/me", headers=sara.headers)).status_code == 200
    await harness.http.put("/v1/me/consents", json={"statistics": False}, headers=sara.headers)
    await harness.http.get("/v1/devices", headers=sara.headers)

    assert await usage_rows(harness) == []


async def test_granted_statistics_count_per_day_and_feature_without_the_user(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await harness.http.put("/v1/me/consents", json={"statistics": True}, headers=sara.headers)
    harness.clock.advance(1)
    for _ in range(2):
        await harness.http.get("/v1/me", headers=sara.headers)
        await harness.http.get("/v1/me", headers=bita.headers)  # bita never agreed
    await harness.http.get("/v1/devices", headers=sara.headers)

    rows = await usage_rows(harness)

    assert {(r["feature"], r["count"]) for r in rows} == {("profiles", 2), ("auth", 1)}
    assert {tuple(sorted(r)) for r in rows} == {("count", "day", "feature")}


async def test_requests_made_before_a_grant_or_after_a_refusal_are_not_counted(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await harness.http.get("/v1/me", headers=sara.headers)  # before any grant, still buffered
    harness.clock.advance(1)
    await harness.http.put("/v1/me/consents", json={"statistics": True}, headers=sara.headers)
    harness.clock.advance(1)
    await harness.http.get("/v1/me", headers=sara.headers)  # counted...
    harness.clock.advance(1)
    await harness.http.put("/v1/me/consents", json={"statistics": False}, headers=sara.headers)
    harness.clock.advance(1)
    await harness.http.get("/v1/me", headers=sara.headers)  # ...but refused before the flush

    assert await usage_rows(harness) == []


async def test_preferences_cookie_only_while_the_category_is_granted(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    client = harness.client()

    refused = await client.put(
        "/v1/me/preferences", json={"theme": "dark", "language": "fa"}, headers=sara.headers
    )
    assert refused.status_code == 200
    assert refused.json()["cookie_set"] is False
    assert "payam_prefs" not in refused.headers.get("set-cookie", "")
    assert "payam_prefs" not in client.cookies

    await client.put("/v1/me/consents", json={"preferences": True}, headers=sara.headers)
    granted = await client.put(
        "/v1/me/preferences", json={"theme": "dark", "language": "fa"}, headers=sara.headers
    )
    assert granted.json()["cookie_set"] is True
    assert client.cookies["payam_prefs"] == "theme:dark|language:fa"

    # Refusing again removes the cookie and no later answer sets it.
    await client.put("/v1/me/consents", json={"preferences": False}, headers=sara.headers)
    assert "payam_prefs" not in client.cookies
    again = await client.put("/v1/me/preferences", json={"theme": "light"}, headers=sara.headers)
    assert again.json()["cookie_set"] is False
    assert "payam_prefs" not in again.headers.get("set-cookie", "")


async def test_a_users_consents_are_their_own(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")

    await harness.http.put("/v1/me/consents", json={"statistics": True}, headers=sara.headers)

    features = (await harness.http.get("/v1/me/consents", headers=bita.headers)).json()["features"]
    assert features["usage_statistics"] is False


async def test_an_unknown_or_required_category_answers_invalid_request_as_documented(
    harness: Harness,
) -> None:
    """docs/api.md promised ``unknown_category`` while the route answered ``invalid_request``;
    the document, the docs and the answer now say ``invalid_request``, naming the key."""
    sara = await harness.sign_in(SARA)
    for key in ("marketing", "essential"):
        response = await harness.http.put("/v1/me/consents", json={key: True}, headers=sara.headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert error["details"][0]["loc"] == ["body", key]
    schema = harness.app.openapi()["components"]["schemas"]["ConsentsIn"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"preferences", "statistics"}
