"""Partner proposals, users' objections and the append-only disclosure log (P8.2)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import disclosure_log, partner_objections, partners, users


@dataclass(frozen=True, slots=True)
class Partner:
    id: int
    name: str
    purpose: str
    fields: tuple[str, ...]
    proposed_at: float
    notice_until: float
    exported_at: float | None


@dataclass(frozen=True, slots=True)
class Disclosure:
    id: int
    partner_id: int
    partner_name: str
    fields: tuple[str, ...]
    row_count: int
    sha256: str
    exported_at: float


def _partner(row: Any) -> Partner:
    values = dict(row._mapping)
    values["fields"] = tuple(json.loads(values["fields"]))
    return Partner(**values)


def _disclosure(row: Any) -> Disclosure:
    values = dict(row._mapping)
    values["fields"] = tuple(json.loads(values["fields"]))
    return Disclosure(**values)


async def create(
    conn: AsyncConnection,
    *,
    name: str,
    purpose: str,
    fields: Sequence[str],
    now: float,
    notice_until: float,
) -> Partner:
    new_id = (
        await conn.execute(
            insert(partners)
            .values(
                name=name,
                purpose=purpose,
                fields=json.dumps(list(fields)),
                proposed_at=now,
                notice_until=notice_until,
            )
            .returning(partners.c.id)
        )
    ).scalar_one()
    return Partner(int(new_id), name, purpose, tuple(fields), now, notice_until, None)


async def get(conn: AsyncConnection, partner_id: int, *, lock: bool = False) -> Partner | None:
    """The proposal; with ``lock``, held against a concurrent export or objection."""
    query = select(partners).where(partners.c.id == partner_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _partner(row) if row else None


async def by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Partner]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(partners).where(partners.c.id.in_(wanted)))
    return {int(r.id): _partner(r) for r in rows}


async def mark_exported(conn: AsyncConnection, partner_id: int, *, now: float) -> None:
    await conn.execute(update(partners).where(partners.c.id == partner_id).values(exported_at=now))


async def add_objection(
    conn: AsyncConnection, partner_id: int, user_id: int, *, now: float
) -> float:
    """Record the objection (once); returns when it was first made."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(
        dialect_insert(partner_objections)
        .values(partner_id=partner_id, user_id=user_id, objected_at=now)
        .on_conflict_do_nothing(
            index_elements=[partner_objections.c.partner_id, partner_objections.c.user_id]
        )
    )
    found = await objection(conn, partner_id, user_id)
    assert found is not None  # inserted just above, or already there
    return found


async def objection(conn: AsyncConnection, partner_id: int, user_id: int) -> float | None:
    row = (
        await conn.execute(
            select(partner_objections.c.objected_at).where(
                partner_objections.c.partner_id == partner_id,
                partner_objections.c.user_id == user_id,
            )
        )
    ).first()
    return float(row.objected_at) if row else None


async def objections_of_user(conn: AsyncConnection, user_id: int) -> dict[int, float]:
    rows = await conn.execute(
        select(partner_objections.c.partner_id, partner_objections.c.objected_at).where(
            partner_objections.c.user_id == user_id
        )
    )
    return {int(r.partner_id): float(r.objected_at) for r in rows}


async def objectors(conn: AsyncConnection, partner_id: int) -> set[int]:
    rows = await conn.execute(
        select(partner_objections.c.user_id).where(partner_objections.c.partner_id == partner_id)
    )
    return {int(r.user_id) for r in rows}


async def user_fields(
    conn: AsyncConnection, user_ids: Sequence[int], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The named ``users`` columns of these users, in id order; nothing else is read."""
    selected = [users.c[name] for name in columns]
    out: list[dict[str, Any]] = []
    ordered = sorted(user_ids)
    for start in range(0, len(ordered), 1000):
        rows = await conn.execute(
            select(users.c.id, *selected)
            .where(users.c.id.in_(ordered[start : start + 1000]))
            .order_by(users.c.id)
        )
        out += [{name: row._mapping[name] for name in columns} for row in rows]
    return out


async def log_disclosure(
    conn: AsyncConnection,
    *,
    partner: Partner,
    row_count: int,
    sha256: str,
    now: float,
) -> Disclosure:
    new_id = (
        await conn.execute(
            insert(disclosure_log)
            .values(
                partner_id=partner.id,
                partner_name=partner.name,
                fields=json.dumps(list(partner.fields)),
                row_count=row_count,
                sha256=sha256,
                exported_at=now,
            )
            .returning(disclosure_log.c.id)
        )
    ).scalar_one()
    return Disclosure(int(new_id), partner.id, partner.name, partner.fields, row_count, sha256, now)


async def disclosures(conn: AsyncConnection, partner_ids: Iterable[int]) -> list[Disclosure]:
    wanted = sorted(set(partner_ids))
    if not wanted:
        return []
    rows = await conn.execute(
        select(disclosure_log)
        .where(disclosure_log.c.partner_id.in_(wanted))
        .order_by(disclosure_log.c.id)
    )
    return [_disclosure(r) for r in rows]
