"""Start a real payam server as a subprocess on loopback for a benchmark, and stop it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
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


def raise_open_files() -> int:
    """Lift this process's open-files limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    def __init__(self, data_dir: Path, port: int, pid: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port
        self.pid = pid
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/v1/ws"

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise LookupError("VmRSS")

    def cpu_seconds(self) -> tuple[float, float]:
        """User and system CPU time the server process has used so far, with its workers'
        (``serve --workers N``: the processes it started, which live as long as it)."""
        tick = os.sysconf("SC_CLK_TCK")
        user = system = 0
        for pid in [self.pid, *self.children()]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                user += int(fields[11])
                system += int(fields[12])
        return user / tick, system / tick

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

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
def running_server(
    extra_env: dict[str, str] | None = None,
    *,
    data_dir: Path | None = None,
    args: list[str] | None = None,
) -> Iterator[Server]:
    """A server on a fresh temporary data dir, or on ``data_dir`` if given (set up beforehand)."""
    with contextlib.ExitStack() as stack:
        tmp = str(data_dir) if data_dir else stack.enter_context(_temporary_dir())
        port = free_port()
        env = {**os.environ, "PAYAM_RATE_LIMITS": "off", **(extra_env or {})}
        # Warnings and tracebacks go to server.log in the data dir, to read when a run fails.
        log = stack.enter_context((Path(tmp) / "server.log").open("ab"))
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
                *(args or []),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = Server(Path(tmp), port, process.pid)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(server.url + "/health", timeout=5).status_code == 200:
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


def _temporary_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="payam-bench-")
