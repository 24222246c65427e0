"""Shared fixtures: every API and storage test runs on SQLite and, when reachable, PostgreSQL.

PostgreSQL comes from ``PAYAM_TEST_POSTGRES_URL`` (default: the local server, database
``test``). Each test gets a schema of its own, dropped afterwards. When no server answers, the
PostgreSQL variants skip with the reason; with ``PAYAM_REQUIRE_POSTGRES=1`` (set by ``.ci/run``)
they fail instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from sqlalchemy.engine import make_url

from payam.app import create_app
from payam.config import Settings
from payam.domain.clock import FakeClock
from payam.services.container import Services

POSTGRES_URL = os.environ.get(
    "PAYAM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PAYAM_REQUIRE_POSTGRES") == "1"
_postgres_state: dict[str, str | None] = {}
# Redis (the event bus between processes) follows the same rule with its own variable.
REDIS_URL = os.environ.get("PAYAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("PAYAM_REQUIRE_REDIS") == "1"
_redis_state: dict[str, str | None] = {}


async def _postgres_problem() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    if "problem" not in _postgres_state:
        url = make_url(POSTGRES_URL).set(drivername="postgresql")
        try:
            conn = await asyncio.wait_for(
                asyncpg.connect(url.render_as_string(hide_password=False)), 5
            )
            await conn.close()
            _postgres_state["problem"] = None
        except Exception as exc:
            _postgres_state["problem"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc!r}"
    return _postgres_state["problem"]


async def _redis_problem() -> str | None:
    """None when Redis answers, else why not (checked once per session)."""
    if "problem" not in _redis_state:
        client = aioredis.from_url(REDIS_URL, socket_connect_timeout=5)
        try:
            await asyncio.wait_for(client.ping(), 5)
            _redis_state["problem"] = None
        except Exception as exc:
            _redis_state["problem"] = f"Redis not reachable at {REDIS_URL}: {exc!r}"
        finally:
            await client.aclose()
    return _redis_state["problem"]


async def skip_without_redis() -> None:
    """Skip (or, with PAYAM_REQUIRE_REDIS=1, fail) a test that needs Redis."""
    problem = await _redis_problem()
    if problem:
        if REQUIRE_REDIS:
            pytest.fail(problem)
        pytest.skip(problem)


async def _pg_execute(sql: str) -> None:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class DatabaseTarget:
    backend: str
    url: str
    schema: str | None = None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    if request.param == "sqlite":
        yield DatabaseTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'payam.sqlite3'}")
        return
    problem = await _postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"t_{secrets.token_hex(6)}"
    await _pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield DatabaseTarget("postgresql", POSTGRES_URL, schema)
    finally:
        await _pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


def make_settings(data_dir: Path, database: DatabaseTarget, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database.url,
        "database_schema": database.schema,
        "secret_key": "test-secret-key-" + "x" * 32,
        "sqlite_synchronous": "NORMAL",
        # Most tests put strangers in groups to test groups; the default ("contacts": strangers
        # are invited instead, P3.2) is tested where it matters, with group_adds_default set.
        "group_adds_default": "everyone",
        # The hot read answers are validated against their documented models here, as every
        # other answer is everywhere: a field a model does not list fails the tests.
        "check_answers": True,
    }
    values.update(overrides)
    return Settings(**values)


CODE_RE = re.compile(r"\b(\d{6})\b")
DEVICE = {"model": "Pixel 8", "os": "Android 15", "app_version": "1.0.0"}


@dataclass
class Account:
    user_id: int
    device_id: int
    token: str
    phone: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Harness:
    """A running app (lifespan entered) with a fake clock and helpers to drive it."""

    services: Services
    settings: Settings
    clock: FakeClock
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, ip: str = "127.0.0.1", user_agent: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        headers = {"user-agent": user_agent} if user_agent else {}
        client = httpx.AsyncClient(
            transport=transport, base_url="http://payam.test", headers=headers
        )
        self.clients.append(client)
        return client

    @property
    def http(self) -> httpx.AsyncClient:
        return self.clients[0] if self.clients else self.client()

    def outbox(self) -> list[dict[str, str]]:
        path = self.settings.data_dir / "sms-outbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def last_code(self, phone: str) -> str:
        for message in reversed(self.outbox()):
            if message["to"] == phone:
                found = CODE_RE.search(message["text"])
                assert found, message
                return found.group(1)
        raise AssertionError(f"no SMS to {phone}")

    async def sign_in(
        self,
        phone: str,
        name: str | None = "Test User",
        *,
        device: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Account:
        client = client or self.http
        response = await client.post("/v1/auth/code", json={"phone": phone})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = {
            "phone": phone,
            "code": self.last_code(phone),
            "device": device or DEVICE,
        }
        if name is not None:
            body["name"] = name
        response = await client.post("/v1/auth/session", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        # Growing waits between codes are real; tests that sign in twice move time on.
        self.clock.advance(3600)
        return Account(
            data["user"]["id"], data["device_id"], data["token"], phone, data["user"]["name"]
        )


@pytest.fixture
async def make_harness(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Any]:
    """Factory: ``await make_harness(**setting_overrides)`` starts an app for this test."""
    started: list[tuple[Harness, Any]] = []

    async def start(**overrides: Any) -> Harness:
        data_dir = tmp_path / f"data{len(started)}"
        settings = make_settings(data_dir, database, **overrides)
        clock = FakeClock()
        app = create_app(settings, clock=clock, background_jobs=False)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        harness = Harness(app.state.services, settings, clock, app)
        started.append((harness, lifespan))
        return harness

    yield start
    for harness, lifespan in reversed(started):
        for client in harness.clients:
            await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def harness(make_harness: Any) -> Harness:
    started: Harness = await make_harness()
    return started


@dataclass
class LiveServer:
    """A harness's app served by uvicorn on a loopback port, inside the test's event loop: real
    sockets for WebSocket clients, the harness's fake clock and services for everything else."""

    harness: Harness
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"


@pytest.fixture
async def serve_live(make_harness: Any) -> AsyncIterator[Any]:
    """Factory: ``await serve_live(harness)`` serves that harness's app until the test ends
    (it stops before any harness does: it depends on ``make_harness``)."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(harness: Harness) -> LiveServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # lifespan off: the harness has already started the app's services.
        config = uvicorn.Config(harness.app, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        running.append((server, task))
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        return LiveServer(harness, port)

    yield start
    for server, task in reversed(running):
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def live_server(harness: Harness, serve_live: Any) -> LiveServer:
    started: LiveServer = await serve_live(harness)
    return started
