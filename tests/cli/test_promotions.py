"""``payam promotions draw`` (P7.2): a seeded, recorded, reproducible draw; winners told;
only winners' numbers printed."""

from __future__ import annotations

import random
import re
from pathlib import Path

from typer.testing import CliRunner

from payam.cli.main import app
from payam.storage.tables import draw_winners, draws, notices
from tests.cli.notice_helpers import no_payam_environment, rows, seed_group, seed_users

__all__ = ["no_payam_environment"]

PEOPLE = [(f"+98912000{n:04d}", f"Person {n}") for n in range(1, 11)]


def draw(data_dir: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        app, ["promotions", "draw", "--name", "Spring", "--data-dir", str(data_dir), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def winners_printed(output: str) -> list[int]:
    return [int(m) for m in re.findall(r"^\W*(\d+)\s*\W+\+98", output, flags=re.MULTILINE)]


def test_the_same_seed_and_eligible_set_give_the_same_winners(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_users(data_dir, PEOPLE)

    first = draw(data_dir, "--winners", "3", "--seed", "s33d")
    second = draw(data_dir, "--winners", "3", "--seed", "s33d")

    expected = random.Random("s33d").sample(sorted(ids), 3)
    assert winners_printed(first) == winners_printed(second) == expected
    recorded = rows(data_dir, draws)
    assert [(d["seed"], d["eligible_count"]) for d in recorded] == [("s33d", 10)] * 2


def test_only_winners_are_recorded_told_and_printed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_users(data_dir, PEOPLE)

    output = draw(data_dir, "--winners", "2")

    [recorded] = rows(data_dir, draws)
    assert len(recorded["seed"]) == 32  # generated with secrets, and kept
    winners = sorted(w["user_id"] for w in rows(data_dir, draw_winners))
    assert sorted(winners_printed(output)) == winners and len(winners) == 2
    told = [n for n in rows(data_dir, notices) if n["kind"] == "prize"]
    assert sorted(n["user_id"] for n in told) == winners
    losers = [phone for uid, (phone, _) in zip(ids, PEOPLE, strict=True) if uid not in winners]
    assert not any(phone in output for phone in losers)


def test_a_chat_draw_picks_among_its_members_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_users(data_dir, PEOPLE)
    chat_id = seed_group(data_dir, ids[:3])

    output = draw(data_dir, "--winners", "3", "--chat", str(chat_id), "--seed", "x")

    assert sorted(winners_printed(output)) == ids[:3]
    assert rows(data_dir, draws)[0]["eligible_count"] == 3


def test_more_winners_than_eligible_or_an_unknown_chat_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_users(data_dir, PEOPLE[:2])

    too_many = CliRunner().invoke(
        app, ["promotions", "draw", "--name", "x", "--winners", "3", "--data-dir", str(data_dir)]
    )
    no_chat = CliRunner().invoke(
        app,
        [
            "promotions",
            "draw",
            "--name",
            "x",
            "--winners",
            "1",
            "--chat",
            "99",
            "--data-dir",
            str(data_dir),
        ],
    )

    assert too_many.exit_code == 1 and "only 2 eligible" in too_many.output
    assert no_chat.exit_code == 1 and "No chat 99" in no_chat.output
    assert rows(data_dir, draws) == []
