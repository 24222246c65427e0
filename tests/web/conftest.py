"""End-to-end tests of the web client: Debian's chromium, driven by Playwright, against a real
``payam serve`` process on a free port with a temporary data directory.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``PAYAM_TEST_CHROMIUM``
to use another). Without chromium, Playwright or the built client the tests skip with the
reason, except under ``CI=true`` where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from payam.api.web import WEB_DIST

CHROMIUM = os.environ.get("PAYAM_TEST_CHROMIUM", "/usr/bin/chromium")
CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]
_phones = itertools.count(1)

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (WEB_DIST / "index.html").exists():
        return f"the web client is not built ({WEB_DIST}): pip install -e . with npm"
    if not AXE.exists():
        return "web/node_modules is not installed (npm ci in web/): axe-core is missing"
    return None


@pytest.fixture(scope="session")
def e2e_ready() -> None:
    problem = _missing()
    if problem:
        if CI:
            pytest.fail(f"CI=true: the browser tests must run, but {problem}")
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``payam serve`` as a separate process; ``restart`` keeps its port and data."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # more settings for this server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PAYAM_DATA_DIR": str(self.data_dir),
            "PAYAM_PORT": str(self.port),
            # Many sign-ins from one address in a few seconds; the limits have tests of their own.
            "PAYAM_RATE_LIMITS": "off",
            **self.env,
        }
        with (self.data_dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "payam", "serve", "--log-level", "warning"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.data_dir / "server.log").read_text())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("payam serve did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def code_for(self, phone: str) -> str:
        """The last code texted to ``phone`` (the outbox SMS backend writes them here)."""
        outbox = self.data_dir / "sms-outbox.jsonl"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if outbox.exists():
                for line in reversed(outbox.read_text().splitlines()):
                    sms = json.loads(line)
                    found = re.search(r"\b(\d{6})\b", sms["text"])
                    if sms["to"] == phone and found:
                        return found.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no code for {phone}")


@pytest.fixture(scope="module")
def server(e2e_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("payam-web"))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(e2e_ready: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


def new_phone() -> str:
    return f"+98912{os.getpid() % 1000:03d}{next(_phones):04d}"


@dataclass
class Person:
    """One browser context (its own cookies): a person at their own computer."""

    server: Server
    context: Any
    page: Any
    phone: str
    name: str
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server.url + path)

    def sign_in_by_form(self, *, lang: str = "en") -> None:
        """Sign in through the form, as a person would (first sign-in: the name is asked)."""
        page = self.page
        labels = {
            "en": ("Phone number", "Send code", "Code", "Sign in", "Your name"),
            "fa": ("شمارهٔ تلفن", "ارسال کد", "کد", "ورود", "نام شما"),
        }[lang]
        page.get_by_label(labels[0], exact=True).fill(self.phone)
        page.get_by_role("button", name=labels[1], exact=True).click()
        page.get_by_label(labels[2], exact=True).fill(self.server.code_for(self.phone))
        page.get_by_role("button", name=labels[3], exact=True).click()
        page.get_by_label(labels[4], exact=True).fill(self.name)
        page.get_by_role("button", name=labels[3], exact=True).click()
        page.get_by_role("list").first.wait_for(state="attached")

    def sign_in_quickly(self) -> None:
        """Sign in through the API in this context (same cookies as the form), then load."""
        request = self.context.request
        response = request.post(self.server.url + "/v1/auth/code", data={"phone": self.phone})
        assert response.status == 202, response.text()
        response = request.post(
            self.server.url + "/v1/auth/session",
            data={
                "phone": self.phone,
                "code": self.server.code_for(self.phone),
                "name": self.name,
                "device": {"model": "test", "os": "test", "app_version": "e2e"},
                "cookie": True,
            },
        )
        assert response.status == 201, response.text()
        self.open("/")
        self.page.locator("ul.chats").wait_for(state="attached")

    def context_csrf(self) -> str:
        return str(next(c["value"] for c in self.context.cookies() if c["name"] == "payam_csrf"))

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def axe(self) -> list[dict[str, Any]]:
        """Serious and critical axe-core violations on the page as it is now."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated over the DevTools protocol: the page's CSP stays as strict as served.
            self.page.evaluate(AXE.read_text())
        found: list[dict[str, Any]] = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
                    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
        return found


@pytest.fixture
def people(server: Server, browser: Any) -> Iterator[Any]:
    """Factory: ``people("Ali", lang="en")`` opens a fresh browser context for one person."""
    contexts: list[Any] = []

    def make(name: str, *, locale: str = "en-GB", color_scheme: str = "light") -> Person:
        context = browser.new_context(
            locale=locale,
            color_scheme=color_scheme,
            viewport={"width": 1100, "height": 720},
            timezone_id="Asia/Tehran",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        person = Person(server, context, page, new_phone(), name)
        page.on("console", lambda m: person.console.append(m.text))
        page.on("pageerror", lambda e: person.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: person.requests.append(r.url))
        return person

    yield make
    for context in contexts:
        context.close()


def copy_to_docs(name: str, target: str) -> None:
    """Refresh a screenshot the README shows (docs/screenshots/), when asked to with
    ``PAYAM_UPDATE_DOC_SCREENSHOTS=1``: a plain test run leaves the checkout clean."""
    source = SCREENSHOTS / f"{name}.png"
    if os.environ.get("PAYAM_UPDATE_DOC_SCREENSHOTS") == "1" and source.exists():
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(source, docs / target)
