"""Published policy versions (P12.1): text, its SHA-256, whether the change is important."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import policy_versions


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    id: int
    version: str
    important: bool
    text: str
    sha256: str
    published_at: float


def _row(row: Any) -> PolicyVersion:
    values = dict(row._mapping)
    values["important"] = bool(values["important"])
    return PolicyVersion(**values)


async def insert_version(
    conn: AsyncConnection, *, version: str, important: bool, text: str, sha256: str, now: float
) -> PolicyVersion:
    new_id = (
        await conn.execute(
            insert(policy_versions)
            .values(
                version=version, important=important, text=text, sha256=sha256, published_at=now
            )
            .returning(policy_versions.c.id)
        )
    ).scalar_one()
    return PolicyVersion(int(new_id), version, important, text, sha256, now)


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(policy_versions))).scalar_one())


async def by_version(conn: AsyncConnection, version: str) -> PolicyVersion | None:
    row = (
        await conn.execute(select(policy_versions).where(policy_versions.c.version == version))
    ).first()
    return _row(row) if row else None


async def latest(conn: AsyncConnection) -> PolicyVersion | None:
    row = (
        await conn.execute(select(policy_versions).order_by(policy_versions.c.id.desc()).limit(1))
    ).first()
    return _row(row) if row else None


async def by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, PolicyVersion]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(policy_versions).where(policy_versions.c.id.in_(wanted)))
    return {int(r.id): _row(r) for r in rows}
