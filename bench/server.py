"""Start a real payam server as a subprocess on loopback for a benchmark, and stop it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CODE = re.compile(r"\b(\d{6})\b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def code_for(self, phone: str) -> str:
        lines = (self.data_dir / "sms-outbox.jsonl").read_text().splitlines()
        for line in reversed(lines):
            message = json.loads(line)
            if message["to"] == phone:
                found = CODE.search(message["text"])
                if found:
                    return found.group(1)
        raise LookupError(phone)


@contextlib.contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
        port = free_port()
        env = {**os.environ, "PAYAM_RATE_LIMITS": "off", **(extra_env or {})}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "payam",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                tmp,
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(Path(tmp), port)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("server did not start")
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
