"""A real coturn for the call tests: started on loopback, on a free port, with a temporary
configuration in coturn's TURN REST API mode (``use-auth-secret``), and stopped afterwards (no
daemon is left behind). Tests that need it skip with the reason when ``turnserver`` is not
installed, except under CI (``CI=true``), where they fail: `.ci/run` installs coturn."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET = "coturn-test-secret-" + "s" * 24


@dataclass(frozen=True)
class Coturn:
    port: int
    secret: str

    @property
    def uri(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


def need_turnserver() -> str:
    found = shutil.which("turnserver")
    if found is None:
        reason = "coturn's turnserver is not installed (apt-get install coturn)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _free_port() -> int:
    """A port free for both UDP and TCP on loopback (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


async def _listening(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(15):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"turnserver exited with {process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def write_config(directory: Path, port: int) -> Path:
    """A turnserver.conf for a relay on loopback at ``port`` with the tests' shared secret."""
    config = directory / "turnserver.conf"
    config.write_text(
        "\n".join(
            [
                "listening-ip=127.0.0.1",
                "relay-ip=127.0.0.1",
                f"listening-port={port}",
                "min-port=40000",
                "max-port=60000",
                "use-auth-secret",
                f"static-auth-secret={SECRET}",
                "realm=payam.test",
                "fingerprint",
                "no-tls",
                "no-dtls",
                "no-cli",
                "no-multicast-peers",
                # The peers are on this machine: relaying to loopback is the point of the test.
                "allow-loopback-peers",
                f"pidfile={directory / 'turnserver.pid'}",
                f"userdb={directory / 'turndb.sqlite'}",
                f"log-file={directory / 'turn.log'}",
                "simple-log",
                "",
            ]
        )
    )
    return config


async def start_coturn(directory: Path) -> AsyncIterator[Coturn]:
    program = need_turnserver()
    port = _free_port()
    config = write_config(directory, port)
    process = await asyncio.create_subprocess_exec(
        program,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _listening(port, process)
        yield Coturn(port, SECRET)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
