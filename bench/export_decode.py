"""Export memory and image-decode concurrency (issue 9 #12 and #13), in process, on SQLite.

    python -m bench.export_decode [--export-mb 150] [--big 8]

Each scenario runs in a child process of its own, so its memory high-water mark (``VmHWM``) is
its own:

- ``export``: one user with three uploads of ``export-mb / 3`` MB of random bytes (as
  octet-stream files); then their export is built and read to the end, three at once. Printed:
  the Python allocation peak during the exports (tracemalloc), the process's resident
  high-water mark above the set-up, and the event loop's longest stall while they ran (a
  ticker that should wake every 5 ms: what a ``/health`` request would wait).
- ``bombs``: ``big`` uploads of the issue's 154 KB all-zero 6300x6300 PNG, then one 50x50 PNG,
  all at once. Printed: the answers, when the small one finished and its place among the
  finishers, the resident high-water mark, and the resident size once all were done.
- ``large``: the same with ``big`` all-zero 4000x4000 PNGs (16 Mpx, accepted by both), which
  are decoded for real.

The same script measures the code before the change: run it with that commit's ``src`` first
on ``PYTHONPATH`` (``git archive <commit> src | tar -x -C /tmp/before``). It uses
``export_file`` when the service has it, else ``export_zip``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from bench.inprocess import in_process_services
from payam.domain.clock import FakeClock
from payam.domain.errors import PayamError
from payam.domain.models import Caller
from payam.storage import users

MB = 1024 * 1024


def _status(field: str) -> int:
    """A ``/proc/self/status`` figure in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return -1


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def zero_png(side: int) -> bytes:
    squeeze = zlib.compressobj(9)
    row = bytes(1 + 3 * side)
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


async def _user(services: Any, phone: str) -> Caller:
    async with services.db.write() as conn:
        user = await users.create(
            conn,
            phone=phone,
            phone_hash=services.auth.phone_hash(phone),
            name="Bench",
            now=services.clock.now(),
        )
    return Caller(user_id=user.id, device_id=0)


class Ticker:
    """The longest the event loop kept a 5 ms timer waiting."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - start - 0.005)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def export_scenario(total_mb: int) -> dict[str, Any]:
    async with in_process_services(None, FakeClock()) as services:
        caller = await _user(services, "+989120000001")
        per_file = max(1, total_mb // 3) * MB
        for _ in range(3):
            with tempfile.TemporaryFile() as source:
                for _ in range(per_file // MB):
                    source.write(os.urandom(MB))
                source.seek(0)
                await services.media.upload(caller, source, "application/octet-stream")
        baseline = _status("VmRSS")

        async def one() -> int:
            if hasattr(services.export, "export_file"):
                export = await services.export.export_file(caller)
                size = 0
                async for chunk in export.chunks():
                    size += len(chunk)
                return size
            return len(await services.export.export_zip(caller))

        tracemalloc.start()
        started = time.perf_counter()
        with Ticker() as ticker:
            sizes = await asyncio.gather(one(), one(), one())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "exports": 3,
            "zip_mb_each": round(sizes[0] / MB, 1),
            "python_peak_mb": round(peak / MB, 1),
            "rss_high_water_above_setup_mb": _status("VmHWM") - baseline,
            "loop_longest_stall_ms": round(ticker.worst * 1000, 1),
            "seconds": round(elapsed, 2),
        }


async def decode_scenario(side: int, big: int) -> dict[str, Any]:
    large = zero_png(side)
    small_out = io.BytesIO()
    Image.new("RGB", (50, 50), (10, 200, 30)).save(small_out, "PNG")
    small = small_out.getvalue()
    async with in_process_services(None, FakeClock()) as services:
        caller = await _user(services, "+989120000002")
        baseline = _status("VmRSS")
        finished: list[str] = []
        answers: dict[str, str] = {}
        started = time.perf_counter()
        small_done = 0.0

        async def upload(label: str, data: bytes) -> None:
            nonlocal small_done
            try:
                await services.media.upload(caller, io.BytesIO(data), "image/png")
                answers[label] = "stored"
            except PayamError as exc:
                answers[label] = str(exc.code)
            finished.append(label)
            if label == "small":
                small_done = time.perf_counter() - started

        with Ticker() as ticker:
            tasks = [asyncio.create_task(upload(f"big{i}", large)) for i in range(big)]
            await asyncio.sleep(0)  # the large ones are under way first
            tasks.append(asyncio.create_task(upload("small", small)))
            await asyncio.gather(*tasks)
        return {
            "png_kb": len(large) // 1024,
            "side": side,
            "large_answer": answers["big0"],
            "small_finished_after_s": round(small_done, 3),
            "small_place_among_finishers": f"{finished.index('small') + 1} of {len(finished)}",
            "all_done_s": round(time.perf_counter() - started, 2),
            "rss_high_water_above_setup_mb": _status("VmHWM") - baseline,
            "rss_after_mb_above_setup": _status("VmRSS") - baseline,
            "loop_longest_stall_ms": round(ticker.worst * 1000, 1),
        }


def child(args: argparse.Namespace) -> None:
    if args.scenario == "export":
        result = asyncio.run(export_scenario(args.export_mb))
    elif args.scenario == "bombs":
        result = asyncio.run(decode_scenario(6300, args.big))
    else:
        result = asyncio.run(decode_scenario(4000, args.big))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-mb", type=int, default=150)
    parser.add_argument("--big", type=int, default=8)
    parser.add_argument("--scenario", choices=["export", "bombs", "large"])
    args = parser.parse_args()
    if args.scenario:
        child(args)
        return
    print(f"load average {os.getloadavg()[0]:.1f}")
    for scenario in ("export", "bombs", "large"):
        command = [sys.executable, "-m", "bench.export_decode", "--scenario", scenario]
        command += ["--export-mb", str(args.export_mb), "--big", str(args.big)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            print(scenario, "failed:", done.stderr[-2000:])
            continue
        print(scenario, done.stdout.strip())


if __name__ == "__main__":
    main()
