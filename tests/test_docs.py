"""The docs say what the code does: every setting is in docs/operations.md, every CLI command
too, and the README carries the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from payam.cli.main import app
from payam.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_operations_md() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    missing = [
        f"PAYAM_{name.upper()}"
        for name in Settings.model_fields
        if f"`PAYAM_{name.upper()}`" not in text
    ]
    assert not missing, f"docs/operations.md does not describe {missing}"


def test_every_cli_command_is_documented_in_operations_md() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    group = get_command(app)
    names: list[str] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            names += [f"payam {name} {sub}" for sub in subcommands]
        else:
            names.append(f"payam {name}")
    missing = [n for n in names if f"`{n}" not in text]
    assert not missing, f"docs/operations.md does not describe {missing}"


def test_readme_has_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", text, flags=re.DOTALL)
    assert any("payam serve" in b and "pip install -e ." in b for b in blocks)
    assert any("pip install -e '.[test]'" in b and "scripts/check" in b for b in blocks)


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(
        b for b in re.findall(r"```sh\n(.*?)\n```", readme, flags=re.DOTALL) if "[test]" in b
    )
    assert command.strip() in ci
