"""``payam maintenance prune`` (P4.3): the retention job, from the command line, on the data dir
of a stopped (or running) server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from payam.app import build_services
from payam.cli.main import app
from payam.config import Settings
from payam.storage import access_log as store
from payam.storage import migrate
from payam.storage.tables import access_log

DAY = 86400


@pytest.fixture(autouse=True)
def no_payam_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only --data-dir decides where the command looks, whatever the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("PAYAM_"):
            monkeypatch.delenv(name)


def entry(at: float, route: str) -> dict[str, object]:
    return {
        "at": at,
        "user_id": None,
        "device_id": None,
        "ip": "192.0.2.1",
        "browser_family": "Firefox",
        "browser_version": "121.0",
        "method": "GET",
        "route": route,
        "status": 200,
        "duration_ms": 1.0,
    }


def seed(data_dir: Path, *, old: int, recent: int) -> None:
    """A data dir with an SQLite database holding ``old`` (40 days) and ``recent`` entries."""

    async def run() -> None:
        services = build_services(Settings(data_dir=data_dir))
        try:
            await migrate.upgrade(services.db)
            now = time.time()
            async with services.db.write() as conn:
                await store.append_many(
                    conn,
                    [entry(now - 40 * DAY, "/old") for _ in range(old)]
                    + [entry(now - 60, "/recent") for _ in range(recent)],
                )
        finally:
            await services.db.dispose()

    asyncio.run(run())


def routes_left(data_dir: Path) -> dict[str, int]:
    async def run() -> dict[str, int]:
        services = build_services(Settings(data_dir=data_dir))
        try:
            async with services.db.read() as conn:
                rows = await conn.execute(
                    select(access_log.c.route, func.count()).group_by(access_log.c.route)
                )
                return {str(row[0]): int(row[1]) for row in rows}
        finally:
            await services.db.dispose()

    return asyncio.run(run())


def counts_printed(output: str) -> dict[str, int]:
    """The kind -> count rows of the printed table, however it is framed."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        cells = [c for c in line.replace("│", "|").replace("┃", "|").split("|") if c.strip()]
        if len(cells) == 2 and cells[1].strip().isdigit():
            found[cells[0].strip()] = int(cells[1])
    return found


def test_prune_deletes_expired_access_log_entries_and_prints_counts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed(data_dir, old=3, recent=2)

    result = CliRunner().invoke(app, ["maintenance", "prune", "--data-dir", str(data_dir)])

    assert result.exit_code == 0, result.output
    printed = counts_printed(result.output)
    assert printed["access_log"] == 3
    assert {k: v for k, v in printed.items() if k != "access_log"} == dict.fromkeys(
        [
            "auth_codes",
            "rate_limits",
            "updates",
            "access_log_ips_truncated",
            "stale_devices",
            "admin_access",
            "erasure_cooldowns",
            "draw_winners",
            "view_marks",
            "view_salts",
            "expired_messages",
            "erasure_log",
            "unattached_media",
            "file_leftovers",
            "sms_outbox_lines",
            "subscriber_snapshots",
        ],
        0,
    )
    assert routes_left(data_dir) == {"/recent": 2}
    # Run again: nothing more has expired.
    again = CliRunner().invoke(app, ["maintenance", "prune", "--data-dir", str(data_dir)])
    assert counts_printed(again.output)["access_log"] == 0


def test_prune_honours_the_configured_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    seed(data_dir, old=1, recent=1)
    monkeypatch.setenv("PAYAM_ACCESS_LOG_RETENTION_DAYS", "60")

    result = CliRunner().invoke(app, ["maintenance", "prune", "--data-dir", str(data_dir)])

    assert result.exit_code == 0, result.output
    assert counts_printed(result.output)["access_log"] == 0
    assert routes_left(data_dir) == {"/old": 1, "/recent": 1}


def test_the_installed_command_prunes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed(data_dir, old=2, recent=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYAM_")}

    done = subprocess.run(
        [sys.executable, "-m", "payam", "maintenance", "prune", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "80"},
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert counts_printed(done.stdout)["access_log"] == 2
    assert routes_left(data_dir) == {"/recent": 1}


def test_a_data_dir_without_a_database_is_an_error_not_a_new_server(tmp_path: Path) -> None:
    typo = tmp_path / "dtaa"

    result = CliRunner().invoke(app, ["maintenance", "prune", "--data-dir", str(typo)])

    assert result.exit_code == 1
    assert "no payam database" in result.output
    assert not typo.exists()
