"""The access log (P4.2): what each request leaves behind, and for how long (P4.3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from payam.storage.tables import access_log
from tests.conftest import Harness

SARA = "+989120000001"
BITA = "+989121110001"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
DAY = 86400


async def logged(harness: Harness, **where: Any) -> list[dict[str, Any]]:
    """The access log after a flush, oldest first, filtered by column values."""
    await harness.services.access_log.flush()
    async with harness.services.db.read() as conn:
        rows = await conn.execute(select(access_log).order_by(access_log.c.id))
    entries = [dict(row._mapping) for row in rows]
    return [e for e in entries if all(e[k] == v for k, v in where.items())]


async def test_a_signed_in_request_records_address_browser_template_user_and_device(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chrome = harness.client(ip="203.0.113.7", user_agent=CHROME)

    response = await chrome.get(f"/v1/users/{bita.user_id}?ref=query-secret", headers=sara.headers)
    assert response.status_code == 200

    [entry] = await logged(harness, ip="203.0.113.7")
    assert entry["method"] == "GET"
    assert entry["route"] == "/v1/users/{user_id}"
    assert entry["status"] == 200
    assert (entry["user_id"], entry["device_id"]) == (sara.user_id, sara.device_id)
    assert (entry["browser_family"], entry["browser_version"]) == ("Chrome", "120.0")
    assert entry["at"] == harness.clock.now()
    assert entry["duration_ms"] >= 0
    # Never the concrete path, its ids or its query.
    for row in await logged(harness):
        assert "query-secret" not in str(row)
        assert str(bita.user_id) not in row["route"]


async def test_an_anonymous_firefox_request_records_browser_and_no_user(harness: Harness) -> None:
    firefox = harness.client(ip="198.51.100.9", user_agent=FIREFOX)

    assert (await firefox.get("/health")).status_code == 200

    [entry] = await logged(harness, ip="198.51.100.9")
    assert (entry["browser_family"], entry["browser_version"]) == ("Firefox", "121.0")
    assert (entry["method"], entry["route"], entry["status"]) == ("GET", "/health", 200)
    assert (entry["user_id"], entry["device_id"]) == (None, None)


async def test_refused_and_unknown_requests_are_logged_by_template_and_status(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    client = harness.client(ip="192.0.2.1", user_agent=FIREFOX)

    assert (await client.get("/v1/me")).status_code == 401
    assert (await client.get("/nowhere/12345?phone=989121110001")).status_code == 404
    assert (await client.delete("/v1/devices/987654", headers=sara.headers)).status_code == 404
    assert (await client.post("/v1/auth/code", json={"phone": BITA})).status_code == 202

    entries = await logged(harness, ip="192.0.2.1")
    assert [(e["method"], e["route"], e["status"]) for e in entries] == [
        ("GET", "/v1/me", 401),
        ("GET", "<unmatched>", 404),
        ("DELETE", "/v1/devices/{device_id}", 404),
        ("POST", "/v1/auth/code", 202),
    ]
    assert [e["user_id"] for e in entries] == [None, None, sara.user_id, None]
    # Bodies and numbers never reach the log.
    for entry in entries:
        for digits in ("989121110001", "9121110001", "987654", "12345"):
            assert digits not in str(entry)


async def test_missing_or_unknown_user_agents_are_recorded_as_such(harness: Harness) -> None:
    bare = harness.client(ip="192.0.2.2")
    bare.headers.pop("user-agent")
    await bare.get("/health")
    await harness.client(ip="192.0.2.3", user_agent="x" * 20_000).get("/health")
    await harness.client(ip="192.0.2.4", user_agent="curl/8.5.0").get("/health")

    [none] = await logged(harness, ip="192.0.2.2")
    [junk] = await logged(harness, ip="192.0.2.3")
    [curl] = await logged(harness, ip="192.0.2.4")
    assert (none["browser_family"], none["browser_version"]) == (None, None)
    assert (junk["browser_family"], junk["browser_version"]) == ("Other", None)
    assert (curl["browser_family"], curl["browser_version"]) == ("curl", "8.5")


async def test_records_older_than_the_retention_period_are_pruned_newer_kept(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(access_log_retention_days=7)
    old = harness.client(ip="192.0.2.10", user_agent=CHROME)
    new = harness.client(ip="192.0.2.20", user_agent=FIREFOX)
    for _ in range(3):
        await old.get("/health")
    harness.clock.advance(DAY)
    await new.get("/health")
    await harness.services.access_log.flush()

    harness.clock.advance(6 * DAY - 1)  # the old ones are now 7 days old less a second
    assert (await harness.services.maintenance.prune())["access_log"] == 0
    harness.clock.advance(2)
    removed = await harness.services.maintenance.prune()

    assert removed["access_log"] == 3
    assert await logged(harness, ip="192.0.2.10") == []
    assert len(await logged(harness, ip="192.0.2.20")) == 1
    harness.clock.advance(DAY)
    assert (await harness.services.maintenance.prune())["access_log"] == 1
    assert await logged(harness, ip="192.0.2.20") == []


async def test_the_default_retention_is_thirty_days(harness: Harness) -> None:
    await harness.client(ip="192.0.2.30").get("/health")
    harness.clock.advance(30 * DAY - 1)
    await harness.services.access_log.flush()
    assert (await harness.services.maintenance.prune())["access_log"] == 0
    harness.clock.advance(2)
    assert (await harness.services.maintenance.prune())["access_log"] == 1
