"""``payam backup DEST`` and ``payam restore SRC`` (docs/operations.md "Backups")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from payam.config import Settings
from payam.domain.errors import PayamError
from payam.domain.events import iso

console = Console()

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where payam keeps its files [env PAYAM_DATA_DIR]")
]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    if not settings.database_url and not (settings.data_dir / "payam.sqlite3").exists():
        console.print(f"[red]no payam database in {settings.data_dir.resolve()}[/red]")
        raise typer.Exit(code=1)
    return settings


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) directory for the backup")],
    data_dir: DataDir = None,
) -> None:
    """A consistent copy of the database (SQLite backup API, or pg_dump), the files and the
    secret, while the server runs."""
    from payam.app import build_services  # noqa: PLC0415
    from payam.services import backup as backups  # noqa: PLC0415

    settings = _settings(data_dir)

    async def run() -> backups.Manifest:
        services = build_services(settings)
        try:
            return await backups.create(settings, services.db, services.clock, dest)
        finally:
            await services.db.dispose()

    try:
        manifest = asyncio.run(run())
    except (PayamError, RuntimeError) as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"backup of the {manifest.database} database at revision {manifest.revision} "
        f"and {manifest.files} files in {dest}"
    )


def restore(
    source: Annotated[Path, typer.Argument(help="A directory written by payam backup")],
    data_dir: DataDir = None,
    erasure_log: Annotated[
        list[Path] | None,
        typer.Option(help="Another copy of the erasure log to replay as well (repeatable)"),
    ] = None,
) -> None:
    """Put a backup back (stop the server first), then erase again every account the erasure
    log says was erased after the backup was made, before the server starts."""
    from payam.app import build_services  # noqa: PLC0415
    from payam.services import backup as backups  # noqa: PLC0415
    from payam.storage import migrate  # noqa: PLC0415

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> tuple[backups.Restored, int]:
        services = build_services(settings)
        restored = await backups.restore(
            settings, services.db, services.clock, source, other_logs=erasure_log
        )
        # A fresh set of services on the restored database (and its secret).
        services = build_services(Settings(**settings.model_dump()))
        erased = 0
        try:
            await migrate.upgrade(services.db)
            for user_id in restored.to_erase:
                if await services.erasure.replay_erasure(user_id) is not None:
                    erased += 1
            # Messages that disappeared since the backup was made go before anyone reads.
            await services.ttl.expire()
            await services.purge.stop()
            await services.purge.run()
        finally:
            await services.db.dispose()
        return restored, erased

    try:
        restored, erased = asyncio.run(run())
    except (PayamError, RuntimeError) as exc:
        typer.echo(f"restore failed: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"restored the backup made at {iso(restored.manifest.created_at)} "
        f"(revision {restored.manifest.revision}); "
        f"{erased} account(s) erased after it were erased again"
    )
