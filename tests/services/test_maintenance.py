"""Retention (P4.3): ``Maintenance.prune`` deletes what has passed its period, and only that."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select

from payam.domain.limits import Limit
from payam.storage.retention import truncate_ip
from payam.storage.tables import (
    access_log,
    admin_access,
    auth_codes,
    contacts,
    devices,
    draw_winners,
    draws,
    erasure_cooldowns,
    rate_limits,
    updates,
    users,
)
from tests.conftest import Harness

SARA = "+989120000001"
BITA = "+989121110001"
FRIEND = "+989351234567"
DAY = 86400


async def count(harness: Harness, table: Any) -> int:
    async with harness.services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def bucket_exists(harness: Harness, limit: Limit, subject: str) -> bool:
    key = harness.services.limiter.key(limit, subject)
    async with harness.services.db.read() as conn:
        found = await conn.scalar(select(rate_limits.c.key).where(rate_limits.c.key == key))
    return found is not None


async def test_prune_on_a_fresh_server_removes_nothing(harness: Harness) -> None:
    assert await harness.services.maintenance.prune() == {
        "access_log": 0,
        "auth_codes": 0,
        "rate_limits": 0,
        "updates": 0,
        "access_log_ips_truncated": 0,
        "stale_devices": 0,
        "admin_access": 0,
        "erasure_cooldowns": 0,
        "draw_winners": 0,
        "view_marks": 0,
        "view_salts": 0,
        "expired_messages": 0,
        "erasure_log": 0,
        "unattached_media": 0,
        "file_leftovers": 0,
        "sms_outbox_lines": 0,
        "subscriber_snapshots": 0,
    }


async def test_code_rows_go_once_expired_and_past_the_throttling_window(
    harness: Harness,
) -> None:
    await harness.sign_in(SARA, "Sara")  # a used code: 1 row (sign_in moved the clock 1 h)
    assert (await harness.http.post("/v1/auth/code", json={"phone": BITA})).status_code == 202
    assert await count(harness, auth_codes) == 2

    # Expired, but the send counters still throttle the next codes: kept.
    harness.clock.advance(harness.settings.code_ttl_seconds + 1)
    assert (await harness.services.maintenance.prune())["auth_codes"] == 0
    assert await count(harness, auth_codes) == 2

    # A day after its last send, Sara's row says nothing any more; Bita's an hour later.
    harness.clock.advance(DAY - 3600 - harness.settings.code_ttl_seconds)
    assert (await harness.services.maintenance.prune())["auth_codes"] == 1
    assert await count(harness, auth_codes) == 1
    harness.clock.advance(3600)
    assert (await harness.services.maintenance.prune())["auth_codes"] == 1
    assert await count(harness, auth_codes) == 0
    # And the number starts afresh: a code goes at once.
    assert (await harness.http.post("/v1/auth/code", json={"phone": BITA})).status_code == 202


async def test_a_live_code_survives_prune_and_still_signs_in(make_harness: Any) -> None:
    harness: Harness = await make_harness(code_retention_seconds=0, code_ttl_seconds=600)
    await harness.http.post("/v1/auth/code", json={"phone": BITA})
    harness.clock.advance(60)

    assert (await harness.services.maintenance.prune())["auth_codes"] == 0

    body = {
        "phone": BITA,
        "code": harness.last_code(BITA),
        "name": "Bita",
        "device": {"model": "Pixel 8", "os": "Android 15", "app_version": "1.0.0"},
    }
    assert (await harness.http.post("/v1/auth/session", json=body)).status_code == 201


async def test_only_full_rate_limit_buckets_go_and_limits_still_hold(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"invite_per_user": "2/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    subject = f"user:{sara.user_id}"
    for n in range(2):
        phone = f"+98935100000{n}"
        response = await harness.http.post(
            "/v1/invites", json={"phone": phone}, headers=sara.headers
        )
        assert response.status_code == 202
    refused = await harness.http.post("/v1/invites", json={"phone": FRIEND}, headers=sara.headers)
    assert refused.status_code == 429

    await harness.services.maintenance.prune()
    # A spent bucket is state that matters: pruning must not hand the budget back.
    assert await bucket_exists(harness, Limit.invite_per_user, subject)
    refused = await harness.http.post("/v1/invites", json={"phone": FRIEND}, headers=sara.headers)
    assert refused.status_code == 429

    # Untouched for a whole period, the bucket is full again: the row says nothing.
    harness.clock.advance(DAY + 1)
    removed = await harness.services.maintenance.prune()
    assert removed["rate_limits"] >= 1
    assert not await bucket_exists(harness, Limit.invite_per_user, subject)
    assert not await bucket_exists(harness, Limit.invite_per_phone, "phone:+989351000000")
    ok = await harness.http.post("/v1/invites", json={"phone": FRIEND}, headers=sara.headers)
    assert ok.status_code == 202


async def test_prune_keeps_accounts_devices_and_contacts(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await harness.http.put("/v1/contacts", json={"phones": [FRIEND]}, headers=sara.headers)
    await harness.services.access_log.flush()

    # Past the access log's period, within a device's (stale devices: see below).
    harness.clock.advance(100 * DAY)
    removed = await harness.services.maintenance.prune()

    assert removed["access_log"] > 0
    assert await count(harness, access_log) == 0
    assert (await count(harness, users), await count(harness, devices)) == (1, 1)
    assert await count(harness, contacts) == 1
    assert (await harness.http.get("/v1/me", headers=sara.headers)).status_code == 200


async def test_the_background_job_prunes_when_started(harness: Harness) -> None:
    await harness.client().get("/health")
    await harness.services.access_log.flush()
    harness.clock.advance(31 * DAY)
    maintenance = harness.services.maintenance

    maintenance.start()
    try:
        for _ in range(500):  # up to 5 s; the job prunes at once, then every interval
            await asyncio.sleep(0.01)
            if await count(harness, access_log) == 0:
                break
        assert await count(harness, access_log) == 0
    finally:
        await maintenance.stop()


async def test_stop_ends_the_job_even_when_the_cancel_comes_out_as_another_error(
    harness: Harness, monkeypatch: Any
) -> None:
    """A database library may turn the cancel of a statement into an error of its own on the
    way out (domain/background.py). The job catches errors to try again later; it must still
    end when stopped, or the server's shutdown waits for ever."""
    maintenance = harness.services.maintenance
    entered = asyncio.Event()

    async def prune() -> dict[str, int]:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("the rollback after the cancel failed") from None
        return {}

    monkeypatch.setattr(maintenance, "prune", prune)
    maintenance.start()
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(maintenance.stop(), 5)


async def test_updates_older_than_their_retention_go_and_newer_stay(make_harness: Any) -> None:
    harness = await make_harness(updates_retention_days=7)
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    response = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=sara.headers
    )
    chat_id = response.json()["id"]
    harness.clock.advance(8 * DAY)
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": "m1", "text": "hi"},
        headers=sara.headers,
    )
    assert response.status_code == 201
    before = await count(harness, updates)
    removed = await harness.services.maintenance.prune()
    # The two chat_new updates are 8 days old; the two message_new updates are fresh.
    assert removed["updates"] == 2
    assert await count(harness, updates) == before - 2
    page = await harness.http.get("/v1/updates", params={"after": 0}, headers=bita.headers)
    assert [u["kind"] for u in page.json()["updates"]] == ["message_new"]


def test_addresses_are_cut_to_their_network() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert truncate_ip("not an address") == ""


async def test_access_log_addresses_are_truncated_after_their_period_and_kept_before(
    harness: Harness,
) -> None:
    for ip in ("203.0.113.77", "2001:db8:abcd:12::1"):
        response = await harness.client(ip=ip).get("/health")
        assert response.status_code == 200
    await harness.services.access_log.flush()
    harness.clock.advance((harness.settings.ip_truncate_after_days - 1) * DAY)
    assert (await harness.services.maintenance.prune())["access_log_ips_truncated"] == 0
    harness.clock.advance(2 * DAY)
    assert (await harness.services.maintenance.prune())["access_log_ips_truncated"] == 2
    async with harness.services.db.read() as conn:
        ips = set((await conn.execute(select(access_log.c.ip))).scalars())
    assert ips == {"203.0.113.0/24", "2001:db8:abcd::/48"}
    # Already reduced: not counted again.
    assert (await harness.services.maintenance.prune())["access_log_ips_truncated"] == 0


async def test_devices_unused_past_their_period_are_signed_out(harness: Harness) -> None:
    old = await harness.sign_in(SARA, "Sara")
    harness.clock.advance((harness.settings.stale_device_days - 10) * DAY)
    fresh = await harness.sign_in(SARA, None)
    harness.clock.advance(11 * DAY)
    assert (await harness.services.maintenance.prune())["stale_devices"] == 1
    assert (await harness.http.get("/v1/me", headers=old.headers)).status_code == 401
    assert (await harness.http.get("/v1/me", headers=fresh.headers)).status_code == 200


async def test_admin_reads_cool_downs_and_draw_winners_go_after_their_periods(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    now = harness.clock.now()
    settings = harness.settings
    async with harness.services.db.write() as conn:
        await conn.execute(
            insert(admin_access).values(
                admin_id=1, subject_id=sara.user_id, action="lookup", at=now
            )
        )
        await conn.execute(
            insert(erasure_cooldowns).values(
                phone_hash=b"h" * 32, until=now + settings.erasure_cooldown_days * DAY
            )
        )
        draw_id = (
            await conn.execute(
                insert(draws)
                .values(name="d", seed="s", eligible_count=1, drawn_at=now)
                .returning(draws.c.id)
            )
        ).scalar_one()
        await conn.execute(insert(draw_winners).values(draw_id=draw_id, user_id=sara.user_id))
    removed = await harness.services.maintenance.prune()
    assert (removed["admin_access"], removed["erasure_cooldowns"], removed["draw_winners"]) == (
        0,
        0,
        0,
    )
    harness.clock.advance(settings.erasure_cooldown_days * DAY + 1)
    assert (await harness.services.maintenance.prune())["erasure_cooldowns"] == 1
    harness.clock.advance(settings.admin_audit_retention_days * DAY)
    removed = await harness.services.maintenance.prune()
    assert removed["admin_access"] == 1
    assert removed["draw_winners"] == (
        1 if settings.draw_retention_days <= settings.admin_audit_retention_days else 0
    )
    assert await count(harness, admin_access) == 0
    assert await count(harness, erasure_cooldowns) == 0


async def test_a_device_resuming_from_zero_after_pruning_is_told_to_resync(
    make_harness: Any,
) -> None:
    harness = await make_harness(updates_retention_days=7)
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=sara.headers
    )
    harness.clock.advance(8 * DAY)
    await harness.services.maintenance.prune()
    page = await harness.http.get("/v1/updates", params={"after": 0}, headers=bita.headers)
    assert page.json()["resync_required"] is True


async def test_sms_outbox_lines_go_after_their_period_and_newer_ones_stay(
    harness: Harness,
) -> None:
    """Issue 9 #7: the outbox's numbers and codes are kept ``sms_outbox_retention_hours``."""
    hours = harness.settings.sms_outbox_retention_hours
    await harness.sign_in(SARA, "Sara")  # one code to SARA, then the clock moves an hour
    harness.clock.advance(hours * 3600 - 2 * 3600)
    await harness.http.post("/v1/auth/code", json={"phone": BITA})
    assert {m["to"] for m in harness.outbox()} == {SARA, BITA}
    assert (await harness.services.maintenance.prune())["sms_outbox_lines"] == 0

    harness.clock.advance(2 * 3600)  # SARA's line is now past its period, BITA's is not
    before = (harness.settings.data_dir / "sms-outbox.jsonl").read_bytes()
    assert SARA.encode() in before
    assert (await harness.services.maintenance.prune())["sms_outbox_lines"] == 1
    assert [m["to"] for m in harness.outbox()] == [BITA]
    assert SARA.encode() not in (harness.settings.data_dir / "sms-outbox.jsonl").read_bytes()
