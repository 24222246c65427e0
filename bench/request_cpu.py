"""CPU per HTTP request of the app itself, in process: each request is one call of the ASGI app
(every middleware, routing, the route, the database), without uvicorn, sockets or a client
library. What the doors cost on their own, request by request:

    python -m bench.request_cpu [--requests 1000] [--repeat 3] [--members 3]

A signed-in member of a group of ``--members`` (SQLite, durable commits, rate limits off, the
fake clock) asks for ``GET /v1/me``, the chat list, a history page of 50, the update log, and
sends into the group (``POST``, each send a lone batch of the group commit). Prints the
median of ``--repeat`` runs of CPU on the event loop's thread and in the whole process per
request. Compare two commits interleaved, each from its own ``src/`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from payam.app import create_app
from payam.config import Settings
from payam.domain.clock import FakeClock

CODE = re.compile(r"\b(\d{6})\b")
DEVICE = {"model": "bench", "os": "bench", "app_version": "1"}


async def sign_in(http: httpx.AsyncClient, outbox: Path, phone: str) -> tuple[str, int]:
    await http.post("/v1/auth/code", json={"phone": phone})
    text = json.loads((await asyncio.to_thread(outbox.read_text)).splitlines()[-1])["text"]
    found = CODE.search(text)
    assert found, text
    response = await http.post(
        "/v1/auth/session",
        json={"phone": phone, "code": found.group(1), "name": phone[-4:], "device": DEVICE},
    )
    body = response.json()
    return body["token"], body["user"]["id"]


def asgi_call(app: Any, token: str) -> Callable[..., Awaitable[None]]:
    """One request as one call of the app, as uvicorn makes it."""
    auth = b"Bearer " + token.encode()

    async def call(method: str, path: str, query: bytes = b"", body: bytes = b"") -> None:
        headers = [(b"host", b"bench"), (b"authorization", auth)]
        if body:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
            "state": {},
        }
        given = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal given
            if given:  # nothing more comes: wait as a connection that stays open would
                await asyncio.Event().wait()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        if status // 100 != 2:
            raise RuntimeError(f"{method} {path}: {status}")

    return call


async def one_run(requests: int, members: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            secret_key="bench-" + "k" * 40,
            rate_limits_enabled=False,
            group_adds_default="everyone",
        )
        clock = FakeClock()
        app = create_app(settings, clock=clock, background_jobs=False)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        try:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                people = []
                for n in range(members):
                    people.append(
                        await sign_in(http, Path(tmp) / "sms-outbox.jsonl", f"+98912{n:07d}")
                    )
                    clock.advance(3600)
                token = people[0][0]
                response = await http.post(
                    "/v1/chats",
                    json={
                        "type": "group",
                        "title": "bench",
                        "member_ids": [p[1] for p in people[1:]],
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                chat = response.json()["id"]
            call = asgi_call(app, token)
            ids = itertools.count()
            messages = f"/v1/chats/{chat}/messages"

            def send() -> Awaitable[None]:
                body = json.dumps({"client_id": f"b{next(ids)}", "text": "hello there"})
                return call("POST", messages, body=body.encode())

            for _ in range(60):
                await send()
            cases: dict[str, Callable[[], Awaitable[None]]] = {
                "GET /v1/me": lambda: call("GET", "/v1/me"),
                "GET /v1/chats": lambda: call("GET", "/v1/chats"),
                "history, 50": lambda: call("GET", messages, b"limit=50"),
                "GET /v1/updates": lambda: call("GET", "/v1/updates", b"after=0&limit=20"),
                "send": send,
            }
            found = {}
            for name, request in cases.items():
                for _ in range(50):
                    await request()
                gc.collect()
                thread, process = time.thread_time(), time.process_time()
                for _ in range(requests):
                    await request()
                found[name] = (
                    (time.thread_time() - thread) / requests,
                    (time.process_time() - process) / requests,
                )
            return found
        finally:
            await lifespan.__aexit__(None, None, None)


async def main(args: argparse.Namespace) -> None:
    runs = [await one_run(args.requests, args.members) for _ in range(args.repeat)]
    print(f"CPU per request, median of {args.repeat} runs of {args.requests} (µs)")
    print(f"{'request':<18} {'loop thread':>12} {'process':>10}")
    for name in runs[0]:
        thread = statistics.median(r[name][0] for r in runs) * 1e6
        process = statistics.median(r[name][1] for r in runs) * 1e6
        print(f"{name:<18} {thread:>12.0f} {process:>10.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--members", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
