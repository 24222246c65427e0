"""A data dir with accounts (and a group), and reading it back, for the CLI tests of
``payam policy``, ``payam partners`` and ``payam promotions``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert, select

from payam.app import build_services
from payam.config import Settings
from payam.domain.keys import Keys
from payam.services.container import Services
from payam.storage import migrate, users
from payam.storage.tables import chat_members, chats

T = TypeVar("T")
NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def no_payam_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only --data-dir decides where the command looks, whatever the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("PAYAM_"):
            monkeypatch.delenv(name)


def on_data_dir(data_dir: Path, action: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        services = build_services(Settings(data_dir=data_dir))
        try:
            await migrate.upgrade(services.db)
            return await action(services)
        finally:
            await services.db.dispose()

    return asyncio.run(run())


def seed_users(data_dir: Path, people: list[tuple[str, str]]) -> list[int]:
    """Create the accounts (number, name); returns their ids in order."""

    async def create(services: Services) -> list[int]:
        keys = Keys(services.settings.secret())
        async with services.db.write() as conn:
            made = [
                await users.create(
                    conn, phone=phone, phone_hash=keys.phone_hash(phone), name=name, now=NOW
                )
                for phone, name in people
            ]
        return [u.id for u in made]

    return on_data_dir(data_dir, create)


def seed_group(data_dir: Path, member_ids: list[int]) -> int:
    async def create(services: Services) -> int:
        async with services.db.write() as conn:
            chat_id = int(
                (
                    await conn.execute(
                        insert(chats)
                        .values(
                            type="group",
                            title="Club",
                            created_at=NOW,
                            last_seq=0,
                            member_count=len(member_ids),
                        )
                        .returning(chats.c.id)
                    )
                ).scalar_one()
            )
            await conn.execute(
                insert(chat_members),
                [
                    {"chat_id": chat_id, "user_id": uid, "role": "member", "joined_at": NOW}
                    for uid in member_ids
                ],
            )
        return chat_id

    return on_data_dir(data_dir, create)


def rows(data_dir: Path, table: Any) -> list[dict[str, Any]]:
    async def read(services: Services) -> list[dict[str, Any]]:
        async with services.db.read() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(table))]

    return on_data_dir(data_dir, read)
