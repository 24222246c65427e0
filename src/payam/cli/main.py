"""``payam``: serve, migrate the database, and run maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from payam.cli import backup, logs, notices
from payam.cli.admin import admin_app
from payam.config import Settings
from payam.domain.limits import WS_FRAME_MAX_CHARS

app = typer.Typer(help="payam, a self-hostable messenger server.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Retention and housekeeping.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(admin_app, name="admin")
privacy_app = typer.Typer(help="The privacy data map.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
app.add_typer(notices.policy_app, name="policy")
app.add_typer(notices.partners_app, name="partners")
app.add_typer(notices.promotions_app, name="promotions")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
console = Console()

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where payam keeps its files [env PAYAM_DATA_DIR]")
]


def settings_with(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [env PAYAM_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env PAYAM_PORT]")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the one port (PostgreSQL and the Redis bus only)",
        ),
    ] = 1,
) -> None:
    """Start the server (binds to 127.0.0.1:8080 by default)."""
    import uvicorn  # noqa: PLC0415

    settings = settings_with(host=host, port=port, data_dir=data_dir)
    logs.configure(log_level)
    if workers > 1:
        refusal = workers_refusal(settings)
        if refusal:
            console.print(f"[red]{refusal}[/red]")
            raise typer.Exit(code=2)
    console.print(
        f"payam on http://{settings.host}:{settings.port}  (data: {settings.data_dir.resolve()})"
        + (f", {workers} workers" if workers > 1 else "")
    )
    raise_open_files_limit()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "access_log": False,
        # uvicorn's loggers propagate to ours, which redacts secrets (cli/logs.py).
        "log_config": None,
        **server_options(settings),
    }
    if workers > 1:
        # Each worker builds its own app from the environment: hand it what the options said.
        for name, value in (("PAYAM_DATA_DIR", data_dir), ("PAYAM_HOST", host)):
            if value is not None:
                os.environ[name] = str(value)
        os.environ["PAYAM_PORT"] = str(settings.port)
        os.environ[WORKER_LOG_LEVEL] = log_level
        # Migrated once, here, before any worker starts (each would otherwise race to).
        asyncio.run(_upgrade(settings))
        uvicorn.run(
            "payam.cli.main:worker_app",
            factory=True,
            workers=workers,
            # A worker busy with a burst must not be taken for hung and killed (default 5 s).
            timeout_worker_healthcheck=30,
            **options,
        )
        return
    uvicorn.run(built_app(settings), **options)


def workers_refusal(settings: Settings) -> str | None:
    """Why ``--workers`` cannot be used with these settings, if it cannot (docs/operations.md)."""
    from payam.config import EventBusKind  # noqa: PLC0415

    if settings.resolved_database_url().startswith("sqlite"):
        return (
            "--workers needs PostgreSQL (PAYAM_DATABASE_URL): SQLite has one writer at a time, "
            "which one process already keeps busy, and its group commit lives in that process. "
            "Run one process on SQLite."
        )
    if settings.event_bus is not EventBusKind.redis:
        return (
            "--workers needs the Redis bus (PAYAM_EVENT_BUS=redis): a message sent through one "
            "worker must wake the sockets held by the others."
        )
    return None


def built_app(settings: Settings) -> Any:
    """The app, with what exists after building it out of the collector's sight."""
    from payam.app import create_app  # noqa: PLC0415
    from payam.realtime.collector import watch_pauses  # noqa: PLC0415

    application = create_app(settings)
    # What exists now (modules, routes, schemas, table metadata: some 130,000 objects) lives
    # as long as the process: out of the collector's sight, a full collection no longer walks
    # it, a pause of tens of milliseconds each time (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    # Sockets opened later are frozen by the gateway's CollectorPolicy; a full collection
    # that still takes long is logged (realtime/collector.py).
    watch_pauses()
    return application


# How ``serve --workers N`` tells its workers the log level (each sets up its own logging).
WORKER_LOG_LEVEL = "PAYAM_SERVE_LOG_LEVEL"


def worker_app() -> Any:
    """The app of one worker of ``serve --workers N`` (settings from the environment), logging
    through the same redacting formatter as a single process (cli/logs.py)."""
    logs.configure(os.environ.get(WORKER_LOG_LEVEL, "info"))
    return built_app(Settings())


async def _upgrade(settings: Settings) -> None:
    from payam.storage import migrate  # noqa: PLC0415
    from payam.storage.database import Database  # noqa: PLC0415

    db = Database(settings.resolved_database_url(), schema=settings.database_schema)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves payam; each choice is measured in docs/benchmarks.md."""
    return {
        "loop": "auto",  # uvloop where it is installed (uvicorn[standard]), else asyncio
        "http": "httptools",
        # The sans-I/O implementation: no task of its own per connection, less memory per
        # idle socket than the legacy "websockets" protocol.
        "ws": "websockets-sansio",
        # Compression state is kept per connection for its whole life (tens of KiB each),
        # and our frames are small JSON: memory and CPU go up, bytes barely go down.
        "ws_per_message_deflate": False,
        # A frame is one small JSON command: the gateway's cap (4 bytes a character at
        # most), not 16 MiB. Beyond it the socket closes with 1009, as the gateway does.
        "ws_max_size": 4 * WS_FRAME_MAX_CHARS,
        # Room for a burst of reconnects (a restart, a network coming back) without refusals.
        "backlog": 4096,
        # Forwarded headers are believed only from PAYAM_TRUSTED_PROXIES, never uvicorn's own
        # default (127.0.0.1 via FORWARDED_ALLOW_IPS): a client on loopback could otherwise
        # rotate X-Forwarded-For past every per-address limit.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }


def raise_open_files_limit() -> None:
    """Every WebSocket is a file descriptor: lift the soft limit to the hard one."""
    try:
        import resource  # noqa: PLC0415
    except ImportError:  # not POSIX: the system decides
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply every pending migration (the server also does this on start)."""
    from payam.storage import migrate  # noqa: PLC0415
    from payam.storage.database import Database  # noqa: PLC0415

    settings = settings_with(data_dir=data_dir)

    async def run() -> str | None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.resolved_database_url(),
            sqlite_synchronous=settings.sqlite_synchronous,
            schema=settings.database_schema,
        )
        try:
            await migrate.upgrade(db)
            return await migrate.current_revision(db)
        finally:
            await db.dispose()

    console.print(f"database at revision {asyncio.run(run())}")


@privacy_app.command("map")
@app.command("data-map")
def data_map(
    markdown: Annotated[
        bool, typer.Option(help="Print a Markdown table (as in docs/privacy.md)")
    ] = False,
) -> None:
    """Print every stored personal field: its category, purposes (P-ids) and retention (P7.1)."""
    from payam.services import privacy_map  # noqa: PLC0415

    if markdown:
        typer.echo(privacy_map.markdown())
        return
    table = Table("field", "category", "purposes", "retention", title="payam's data map")
    for field in privacy_map.personal_fields():
        table.add_row(
            f"{field['table']}.{field['column']}",
            field["category"],
            ", ".join(field["purposes"]),
            field["retention"],
        )
    console.print(table)


@maintenance_app.command("prune")
def prune(data_dir: DataDir = None) -> None:
    """Delete what has passed its retention period (P4.3)."""
    from payam.app import build_services  # noqa: PLC0415
    from payam.storage import migrate  # noqa: PLC0415

    settings = settings_with(data_dir=data_dir)
    if not settings.database_url and not (settings.data_dir / "payam.sqlite3").exists():
        # A mistyped --data-dir would otherwise get a new empty database (and secret) and
        # report "0 removed" for ever.
        console.print(f"[red]no payam database in {settings.data_dir.resolve()}[/red]")
        raise typer.Exit(code=1)

    async def run() -> dict[str, int]:
        services = build_services(settings)
        try:
            await migrate.upgrade(services.db)
            return await services.maintenance.prune()
        finally:
            await services.db.dispose()

    removed = asyncio.run(run())
    table = Table("records", "removed")
    for kind, count in removed.items():
        table.add_row(kind, str(count))
    console.print(table)


@maintenance_app.command("purge")
def purge(data_dir: DataDir = None) -> None:
    """Make deletions physical now: merge the search index and truncate the WAL (P5.3).

    The server does this by itself shortly after every deletion; this runs it at once, e.g.
    before a backup. On PostgreSQL there is nothing to do here: see docs/privacy.md.
    """
    from payam.services.purge import Purger  # noqa: PLC0415
    from payam.storage.database import Database  # noqa: PLC0415

    settings = settings_with(data_dir=data_dir)
    if not settings.database_url and not (settings.data_dir / "payam.sqlite3").exists():
        console.print(f"[red]no payam database in {settings.data_dir.resolve()}[/red]")
        raise typer.Exit(code=1)

    async def run() -> tuple[bool, bool]:
        db = Database(
            settings.resolved_database_url(),
            sqlite_synchronous=settings.sqlite_synchronous,
            schema=settings.database_schema,
        )
        try:
            return db.is_sqlite, await Purger(db).run()
        finally:
            await db.dispose()

    is_sqlite, done = asyncio.run(run())
    if not is_sqlite:
        console.print("PostgreSQL: nothing to purge here (see docs/privacy.md)")
    elif done:
        console.print("purged: search index merged, WAL checkpointed and truncated")
    else:
        console.print("[red]a reader kept the WAL busy; run the purge again[/red]")
        raise typer.Exit(code=1)


def main() -> None:
    app()
