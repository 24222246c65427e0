"""``payam admin``: grant and revoke the operator role (P9). Only someone with the server's
data directory (or database) can run these, which is what makes an admin trustworthy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from payam.config import Settings
from payam.domain.errors import PayamError

admin_app = typer.Typer(help="Operators: the admin role (P9).", no_args_is_help=True)
console = Console(soft_wrap=True)

T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where payam keeps its files [env PAYAM_DATA_DIR]")
]
Phone = Annotated[str, typer.Argument(help="The account's number, e.g. +989123456789")]


def _run(data_dir: Path | None, action: Callable[[Any], Awaitable[T]]) -> T:
    from payam.app import build_services  # noqa: PLC0415
    from payam.storage import migrate  # noqa: PLC0415

    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    settings = Settings(**overrides)
    if not settings.database_url and not (settings.data_dir / "payam.sqlite3").exists():
        console.print(f"[red]no payam database in {settings.data_dir.resolve()}[/red]")
        raise typer.Exit(code=1)

    async def run() -> T:
        services = build_services(settings)
        try:
            await migrate.upgrade(services.db)
            return await action(services)
        finally:
            await services.db.dispose()

    try:
        return asyncio.run(run())
    except PayamError as exc:
        console.print(f"[red]{exc.message}[/red] ({exc.code})")
        raise typer.Exit(code=1) from exc


@admin_app.command("grant")
def grant(phone: Phone, data_dir: DataDir = None) -> None:
    """Make the account with this number an admin (the /v1/admin API opens to it)."""
    user_id, changed = _run(data_dir, lambda s: s.admin.grant(phone))
    console.print(f"user {user_id} {'is now' if changed else 'already was'} an admin")


@admin_app.command("revoke")
def revoke(phone: Phone, data_dir: DataDir = None) -> None:
    """Take the admin role away from the account with this number."""
    user_id, changed = _run(data_dir, lambda s: s.admin.revoke(phone))
    console.print(f"user {user_id} {'is no longer' if changed else 'was not'} an admin")
