"""Reducing and deleting what passed its retention period (P4.3), beyond each store's own
``prune``: addresses cut to their network, stale devices, old prize-draw winners."""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import access_log, devices, draw_winners, draws


def truncate_ip(ip: str) -> str:
    """An address reduced to its network: IPv4 to /24, IPv6 to /48 ("203.0.113.0/24").
    Something that is not an address is dropped to "" (it cannot be reduced, so not kept)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


async def truncate_access_log_ips(conn: AsyncConnection, *, older_than: float) -> int:
    """Cut the addresses of access-log records older than ``older_than``; returns how many.
    Reduced addresses carry their prefix length, so they are not cut again."""
    rows = (
        await conn.execute(
            select(access_log.c.id, access_log.c.ip).where(
                access_log.c.at < older_than,
                access_log.c.ip.is_not(None),
                access_log.c.ip.not_like("%/%"),
            )
        )
    ).all()
    for row in rows:
        await conn.execute(
            update(access_log)
            .where(access_log.c.id == row.id)
            .values(ip=truncate_ip(row.ip) or None)
        )
    return len(rows)


async def sign_out_stale_devices(conn: AsyncConnection, *, unused_since: float) -> int:
    result = await conn.execute(delete(devices).where(devices.c.last_active_at < unused_since))
    return int(result.rowcount or 0)


async def prune_draw_winners(conn: AsyncConnection, *, drawn_before: float) -> int:
    old = select(draws.c.id).where(draws.c.drawn_at < drawn_before)
    result = await conn.execute(delete(draw_winners).where(draw_winners.c.draw_id.in_(old)))
    return int(result.rowcount or 0)
