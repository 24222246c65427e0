"""Black-box: the real ``payam serve`` as a separate process, spoken to over real HTTP.

What only a real start can show: the command line and ``PAYAM_*`` variables are honoured, the
data directory gets its SQLite file and a private ``secret.key`` that a restart reuses (so
sessions and pending codes survive it), a sign-in works end to end through the SMS outbox,
the server stops cleanly, and switching rate limits off is loud in the log. The same runs on
PostgreSQL through ``PAYAM_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    CODE_RE,
    DEVICE,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    _pg_execute,
    _postgres_problem,
)

pytestmark = pytest.mark.system

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    data_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def outbox(self) -> list[dict[str, Any]]:
        path = self.data_dir / "sms-outbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def last_code(self, phone: str) -> str:
        for message in reversed(self.outbox()):
            if message["to"] == phone:
                found = CODE_RE.search(message["text"])
                assert found, message
                return found.group(1)
        raise AssertionError(f"no SMS to {phone} in the outbox")


def server_env(**payam: str) -> dict[str, str]:
    """The test's environment without any PAYAM_* it may carry, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYAM_")}
    # The tests put strangers in groups; the default ("contacts") invites them instead (P3.2).
    env["PAYAM_GROUP_ADDS_DEFAULT"] = "everyone"
    env.update(payam)
    return env


@contextlib.contextmanager
def running(
    tmp_path: Path, data_dir: Path, port: int, args: list[str], env: dict[str, str]
) -> Iterator[Server]:
    """Start ``python -m payam serve``, wait for /health, and always stop it afterwards."""
    log_path = tmp_path / f"server-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "payam", "serve", *args],
            cwd=tmp_path,  # a stray default ./data must not land in the repository
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path, data_dir)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop(server)


def wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(base_url=server.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"payam serve exited with {server.process.returncode}:\n{server.log()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/health").status_code == 200:
                    return
            time.sleep(0.1)
    pytest.fail(f"payam serve not healthy after {START_TIMEOUT} s:\n{server.log()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT)


def assert_stopped_cleanly(server: Server) -> None:
    # uvicorn re-raises the SIGTERM it caught once shutdown is done, hence -15 as well as 0.
    assert server.process.returncode in {0, -signal.SIGTERM}, server.log()
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()


def sign_in(server: Server, client: httpx.Client, phone: str, name: str | None) -> dict[str, Any]:
    """Ask for a code, read it from the outbox file, sign in: all over real HTTP."""
    response = client.post("/v1/auth/code", json={"phone": phone})
    assert response.status_code == 202, response.text
    return finish_sign_in(server, client, phone, name)


def finish_sign_in(
    server: Server, client: httpx.Client, phone: str, name: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"phone": phone, "code": server.last_code(phone), "device": DEVICE}
    if name is not None:
        body["name"] = name
    response = client.post("/v1/auth/session", json=body)
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


def assert_documented(client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    document = client.get("/openapi.json")
    assert document.status_code == 200
    assert "/v1/auth/session" in document.json()["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    missing = client.get("/v1/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_token"


def test_serve_keeps_its_files_and_sessions_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    args = ["--port", str(port), "--data-dir", str(data_dir)]
    env = server_env()
    with running(tmp_path, data_dir, port, args, env) as server, server.http() as client:
        assert_documented(client)
        key = data_dir / "secret.key"
        assert key.is_file()
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert len(key.read_text().strip()) >= 32
        assert (data_dir / "payam.sqlite3").is_file()
        session = sign_in(server, client, "+989121110001", "Sara")
        assert session["created_account"] is True
        token = session["token"]
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["name"] == "Sara"
        # A code asked for now is used after the restart: it is keyed by the secret.
        assert client.post("/v1/auth/code", json={"phone": "+989121110002"}).status_code == 202
        secret = key.read_bytes()
    assert_stopped_cleanly(server)
    assert "PAYAM_RATE_LIMITS=off" not in server.log()
    assert "127.0.0.1" in server.log()

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as client:
        assert key.read_bytes() == secret
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["id"] == session["user"]["id"]
        second = finish_sign_in(server, client, "+989121110002", "Reza")
        assert second["created_account"] is True
        devices = client.get("/v1/devices", headers={"Authorization": f"Bearer {token}"})
        assert [d["model"] for d in devices.json()] == [DEVICE["model"]]
    assert_stopped_cleanly(server)


def test_serve_reads_payam_environment_and_warns_loudly_without_rate_limits(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "from-env"
    port = free_port()
    env = server_env(
        PAYAM_DATA_DIR=str(data_dir),
        PAYAM_PORT=str(port),
        PAYAM_RATE_LIMITS="off",
        PAYAM_SECRET_KEY="system-test-secret-" + "s" * 32,
    )
    with running(tmp_path, data_dir, port, [], env) as server, server.http() as client:
        assert_documented(client)
        assert (data_dir / "payam.sqlite3").is_file()
        # A key from the environment is used as is, never written to disk.
        assert not (data_dir / "secret.key").exists()
        # Limits are off: more codes from one address than auth_code_per_ip allows.
        for n in range(12):
            response = client.post("/v1/auth/code", json={"phone": f"+98912222{n:04d}"})
            assert response.status_code == 202, response.text
        sign_in(server, client, "+989122229999", "Load")
    assert_stopped_cleanly(server)
    log = server.log()
    warning = next((line for line in log.splitlines() if "PAYAM_RATE_LIMITS=off" in line), "")
    assert "WARNING" in warning, log
    assert "DISABLED" in warning


def test_serve_on_postgresql(tmp_path: Path) -> None:
    problem = asyncio.run(_postgres_problem())
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"sys_{secrets.token_hex(6)}"
    asyncio.run(_pg_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        data_dir = tmp_path / "pg-data"
        port = free_port()
        env = server_env(
            PAYAM_DATA_DIR=str(data_dir),
            PAYAM_PORT=str(port),
            PAYAM_DATABASE_URL=POSTGRES_URL,
            PAYAM_DATABASE_SCHEMA=schema,
        )
        with running(tmp_path, data_dir, port, [], env) as server, server.http() as client:
            assert_documented(client)
            session = sign_in(server, client, "+989123330001", "Pari")
            headers = {"Authorization": f"Bearer {session['token']}"}
            assert client.get("/v1/me", headers=headers).json()["name"] == "Pari"
            assert not (data_dir / "payam.sqlite3").exists()
        assert_stopped_cleanly(server)
        asyncio.run(_pg_execute(f'SELECT 1 FROM "{schema}".users'))
    finally:
        asyncio.run(_pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))
