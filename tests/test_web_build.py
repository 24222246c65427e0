"""The package build builds the web client (setup.py): without npm it stops and says what to
do; with an up-to-date build it does nothing; PAYAM_SKIP_WEB_BUILD installs the server alone."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    hooks = runpy.run_path(str(ROOT / "setup.py"), run_name="payam_setup")
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "package.json").write_text("{}")
    (web / "src" / "main.tsx").write_text("// source")
    build = hooks["build_web"]
    monkeypatch.setitem(build.__globals__, "WEB", web)
    monkeypatch.setitem(build.__globals__, "DIST", tmp_path / "web_dist")
    return hooks


def test_without_npm_the_install_stops_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooks = load_setup(monkeypatch, tmp_path)
    monkeypatch.delenv("PAYAM_SKIP_WEB_BUILD", raising=False)
    monkeypatch.setattr(hooks["shutil"], "which", lambda _name: None)
    with pytest.raises(SystemExit) as stopped:
        hooks["build_web"]()
    message = str(stopped.value.code)
    assert "npm was not found" in message
    assert "apt-get install nodejs npm" in message
    assert "PAYAM_SKIP_WEB_BUILD=1" in message


def test_an_up_to_date_build_or_the_skip_switch_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooks = load_setup(monkeypatch, tmp_path)
    ran: list[Any] = []
    monkeypatch.setattr(hooks["subprocess"], "run", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(hooks["shutil"], "which", lambda _name: None)
    monkeypatch.setenv("PAYAM_SKIP_WEB_BUILD", "1")
    hooks["build_web"]()  # no npm, no build, no error
    monkeypatch.delenv("PAYAM_SKIP_WEB_BUILD")
    (tmp_path / "web_dist").mkdir()
    (tmp_path / "web_dist" / "index.html").write_text("built after the sources")
    hooks["build_web"]()  # up to date: npm is not even looked for
    assert ran == []
