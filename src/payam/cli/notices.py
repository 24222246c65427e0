"""``payam policy``, ``payam partners`` and ``payam promotions``: the operator's side of what
users must be told (P12.1, P8.2, P7.2). Each command works on the data dir of a stopped or
running server; users' devices hear of a notice at their next sync (at once with the Redis
event bus)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from payam.config import Settings
from payam.domain.errors import PayamError
from payam.domain.events import iso

policy_app = typer.Typer(help="Policy versions and notices (P12.1).", no_args_is_help=True)
partners_app = typer.Typer(help="Partner proposals and shares (P8.2).", no_args_is_help=True)
promotions_app = typer.Typer(help="Prize draws (P7.2).", no_args_is_help=True)
console = Console(soft_wrap=True)  # hashes and paths stay on one line

T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where payam keeps its files [env PAYAM_DATA_DIR]")
]


def _run(data_dir: Path | None, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(services)`` on the data dir's database, migrated; errors exit 1."""
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


@policy_app.command("publish")
def policy_publish(
    file: Annotated[Path, typer.Argument(help="The policy text (UTF-8)", exists=True)],
    important: Annotated[
        bool, typer.Option("--important", help="Tell every user (a notice each)")
    ] = False,
    version: Annotated[str | None, typer.Option(help="Version name; default: the next number")] = (
        None
    ),
    data_dir: DataDir = None,
) -> None:
    """Publish a policy version; an important one gives every user a notice (P12.1)."""
    text = file.read_text(encoding="utf-8")
    done = _run(data_dir, lambda s: s.policy.publish(text, important=important, version=version))
    console.print(
        f"published version {done.version.version} (sha256 {done.version.sha256}); "
        f"{done.notified} users notified"
    )


@partners_app.command("propose")
def partners_propose(
    partner: Annotated[str, typer.Option("--partner", help="The partner's name")],
    purpose: Annotated[str, typer.Option("--purpose", help="What the collaboration is for")],
    fields: Annotated[
        str, typer.Option("--fields", help="Data-map fields, comma separated: users.name,...")
    ],
    notice_days: Annotated[
        int | None,
        typer.Option("--notice-days", help="Days users have to object [PAYAM_PARTNER_NOTICE_DAYS]"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Record a proposed share and tell every user: partner, purpose and fields (P8.2)."""
    done = _run(
        data_dir,
        lambda s: s.partners.propose(partner, purpose, fields.split(","), notice_days=notice_days),
    )
    console.print(
        f"proposal {done.partner.id}: {done.notified} users told; they may object until "
        f"{iso(done.partner.notice_until)}; then run `payam partners export {done.partner.id}`"
    )


@partners_app.command("export")
def partners_export(
    partner_id: Annotated[int, typer.Argument(help="The proposal's id")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="File to write (.csv for CSV); default: JSON lines in <data dir>/exports/"
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the share (after the notice period, without objectors, only the declared fields)
    and record its manifest in the append-only disclosure log (P8.2)."""
    done = _run(data_dir, lambda s: s.partners.export(partner_id, out))
    d = done.disclosure
    console.print(
        f"wrote {d.row_count} rows of {', '.join(d.fields)} to {done.path}\n"
        f"sha256 {d.sha256}; disclosure {d.id} logged"
    )


@promotions_app.command("draw")
def promotions_draw(
    name: Annotated[str, typer.Option("--name", help="The draw's name")],
    winners: Annotated[int, typer.Option("--winners", help="How many winners")],
    chat: Annotated[
        int | None, typer.Option("--chat", help="Only members of this chat or channel")
    ] = None,
    seed: Annotated[
        str | None, typer.Option("--seed", help="Re-run a draw; default: a fresh random seed")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Draw winners fairly (seeded, recorded), tell them, print only their contacts (P7.2)."""
    done = _run(data_dir, lambda s: s.promotions.draw(name, winners, chat_id=chat, seed=seed))
    console.print(
        f"draw {done.draw.id} {done.draw.name!r}: seed {done.draw.seed}, "
        f"{done.draw.eligible_count} eligible"
    )
    table = Table("winner", "phone")
    for user_id in done.winners:
        table.add_row(str(user_id), done.phones.get(user_id, ""))
    console.print(table)
