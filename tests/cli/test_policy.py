"""``payam policy publish`` (P12.1): a version is stored whole with its hash, and an important
one gives every user a notice."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from payam.cli.main import app
from payam.storage.tables import notices, policy_versions, updates
from tests.cli.notice_helpers import no_payam_environment, rows, seed_users

__all__ = ["no_payam_environment"]


def test_publishing_an_important_version_notifies_every_user(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_users(data_dir, [("+989120000001", "Sara"), ("+989120000002", "Bita")])
    text = "We keep every promise.\n"
    policy_file = tmp_path / "policy.md"
    policy_file.write_text(text)

    result = CliRunner().invoke(
        app,
        [
            "policy",
            "publish",
            str(policy_file),
            "--important",
            "--version",
            "2.0",
            "--data-dir",
            str(data_dir),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "2 users notified" in result.output
    [version] = rows(data_dir, policy_versions)
    assert version["version"] == "2.0" and version["important"]
    assert version["text"] == text
    assert version["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    told = rows(data_dir, notices)
    assert sorted(n["user_id"] for n in told) == ids
    assert {n["kind"] for n in told} == {"policy"}
    assert sorted(u["user_id"] for u in rows(data_dir, updates) if u["kind"] == "notice") == ids


def test_an_unimportant_version_is_stored_without_notices(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, [("+989120000001", "Sara")])
    policy_file = tmp_path / "policy.md"
    policy_file.write_text("typo fixed")

    result = CliRunner().invoke(
        app, ["policy", "publish", str(policy_file), "--data-dir", str(data_dir)]
    )

    assert result.exit_code == 0, result.output
    assert rows(data_dir, notices) == []
    assert [v["version"] for v in rows(data_dir, policy_versions)] == ["1"]


def test_a_version_cannot_be_published_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, [])
    policy_file = tmp_path / "policy.md"
    policy_file.write_text("text")
    args = ["policy", "publish", str(policy_file), "--version", "v1", "--data-dir", str(data_dir)]

    assert CliRunner().invoke(app, args).exit_code == 0
    again = CliRunner().invoke(app, args)

    assert again.exit_code == 1
    assert "already published" in again.output
