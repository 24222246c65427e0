"""The web client is part of the package: building payam builds it (as Jupyter's packages do).

Everything else about the package is in pyproject.toml. This hook runs before setuptools
collects the package data, for a wheel and for ``pip install -e .`` alike: ``npm ci`` (when the
lock file changed) and ``npm run build``, which writes the client to ``src/payam/web_dist``.
Without npm the install stops and says what to do. ``PAYAM_SKIP_WEB_BUILD=1`` installs the
server alone (``/`` then says the client was not built).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
DIST = ROOT / "src" / "payam" / "web_dist"
NO_NPM = """
payam's web client is built with npm (Node.js 20 or newer), and npm was not found.
Install Node.js and npm (on Debian or Ubuntu: apt-get install nodejs npm; elsewhere see
https://nodejs.org), then run the install again. To install the server without the web client,
set PAYAM_SKIP_WEB_BUILD=1.
"""


def _newest(paths: list[Path]) -> float:
    times = [0.0]
    for path in paths:
        if path.is_dir():
            times += [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            times.append(path.stat().st_mtime)
    return max(times)


def build_web() -> None:
    if os.environ.get("PAYAM_SKIP_WEB_BUILD") == "1" or not (WEB / "package.json").exists():
        return
    sources = [WEB / name for name in ("src", "public", "index.html", "package-lock.json")]
    sources += list(WEB.glob("*.config.*"))
    built = DIST / "index.html"
    if built.exists() and built.stat().st_mtime >= _newest(sources):
        return  # up to date
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(NO_NPM)
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < _newest([WEB / "package-lock.json"]):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # noqa: S603
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)  # noqa: S603


class BuildPyWithWeb(build_py):
    def run(self) -> None:
        build_web()
        super().run()


if __name__ == "__main__":  # how pip and setuptools' build backend run this file
    setup(cmdclass={"build_py": BuildPyWithWeb})
