"""``payam partners propose`` and ``export`` (P8.2): told first, export only after the notice
period, objectors left out, only the declared fields, the manifest hash matches the file."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from payam.cli.main import app
from payam.domain.models import Caller
from payam.services.container import Services
from payam.storage.tables import disclosure_log, notices, partners
from tests.cli.notice_helpers import no_payam_environment, on_data_dir, rows, seed_users

__all__ = ["no_payam_environment"]

PEOPLE = [("+989120000001", "Sara"), ("+989120000002", "Bita"), ("+989120000003", "Cyrus")]


def propose(data_dir: Path, *extra: str) -> CliRunner:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "partners",
            "propose",
            "--partner",
            "Acme",
            "--purpose",
            "a survey",
            "--fields",
            "users.name,users.phone",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return runner


def move_period_back(data_dir: Path, partner_id: int) -> None:
    """The notice period is over (as if its days had passed)."""

    async def run(services: Services) -> None:
        async with services.db.write() as conn:
            await conn.execute(
                update(partners).where(partners.c.id == partner_id).values(notice_until=0)
            )

    on_data_dir(data_dir, run)


def object_as(data_dir: Path, user_id: int, partner_id: int) -> None:
    async def run(services: Services) -> None:
        await services.partners.object(Caller(user_id, 0), partner_id)

    on_data_dir(data_dir, run)


def test_proposing_tells_every_user_and_refuses_unknown_fields(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_users(data_dir, PEOPLE)

    propose(data_dir, "--notice-days", "14")

    [proposal] = rows(data_dir, partners)
    assert json.loads(proposal["fields"]) == ["users.name", "users.phone"]
    assert proposal["notice_until"] - proposal["proposed_at"] == 14 * 86400
    assert sorted(n["user_id"] for n in rows(data_dir, notices) if n["kind"] == "partner") == ids
    bad = CliRunner().invoke(
        app,
        [
            "partners",
            "propose",
            "--partner",
            "X",
            "--purpose",
            "y",
            "--fields",
            "users.name,messages.text,users.password",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert bad.exit_code == 1
    assert "messages.text" in bad.output and "users.password" in bad.output
    assert len(rows(data_dir, partners)) == 1


def test_export_before_the_notice_period_ends_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, PEOPLE)
    propose(data_dir)
    out = tmp_path / "share.jsonl"

    result = CliRunner().invoke(
        app, ["partners", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]
    )

    assert result.exit_code == 1
    assert "notice period" in result.output and "Nothing was exported" in result.output
    assert not out.exists()
    assert rows(data_dir, disclosure_log) == []


def test_export_leaves_objectors_out_and_writes_only_the_declared_fields(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _sara, bita, _cyrus = seed_users(data_dir, PEOPLE)
    propose(data_dir)
    object_as(data_dir, bita, 1)
    move_period_back(data_dir, 1)
    out = tmp_path / "share.jsonl"

    result = CliRunner().invoke(
        app, ["partners", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        {"users.name": "Sara", "users.phone": "+989120000001"},
        {"users.name": "Cyrus", "users.phone": "+989120000003"},
    ]
    assert "Bita" not in out.read_text() and "+989120000002" not in out.read_text()
    [manifest] = rows(data_dir, disclosure_log)
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["row_count"] == 2
    assert json.loads(manifest["fields"]) == ["users.name", "users.phone"]
    assert manifest["partner_name"] == "Acme"
    assert out.stat().st_mode & 0o077 == 0
    # Once is all: a second export is refused.
    again = CliRunner().invoke(
        app, ["partners", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]
    )
    assert again.exit_code == 1 and "already exported" in again.output


def test_export_as_csv_by_the_file_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, PEOPLE[:1])
    propose(data_dir)
    move_period_back(data_dir, 1)
    out = tmp_path / "share.csv"

    result = CliRunner().invoke(
        app, ["partners", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]
    )

    assert result.exit_code == 0, result.output
    assert list(csv.reader(out.read_text().splitlines())) == [
        ["users.name", "users.phone"],
        ["Sara", "+989120000001"],
    ]
    assert (
        rows(data_dir, disclosure_log)[0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    )


def test_export_of_an_unknown_proposal_is_an_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, [])

    result = CliRunner().invoke(app, ["partners", "export", "7", "--data-dir", str(data_dir)])

    assert result.exit_code == 1
    assert "No partner proposal 7" in result.output
