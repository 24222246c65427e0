"""Foundation figures: sign-ins, authenticated reads, and a 5,000-number contact upload.

Drives a real ``payam serve`` (SQLite default, durable commits, rate limits off) over HTTP on
loopback and prints what it measured. Usage:

    python -m bench.foundation [--users 200] [--concurrency 50] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench.server import Server, running_server

DEVICE = {"model": "bench", "os": "Linux", "app_version": "0"}


def phone(i: int) -> str:
    return f"+98912{i:07d}"


async def sign_in(client: httpx.AsyncClient, server: Server, i: int) -> str:
    response = await client.post("/v1/auth/code", json={"phone": phone(i)})
    response.raise_for_status()
    response = await client.post(
        "/v1/auth/session",
        json={
            "phone": phone(i),
            "code": server.code_for(phone(i)),
            "name": f"user {i}",
            "device": DEVICE,
        },
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(users: int, concurrency: int, seconds: float) -> None:
    with running_server() as server:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            started = time.perf_counter()
            tokens = []
            for i in range(users):  # sequential: the outbox is read after each send
                tokens.append(await sign_in(client, server, i))
            elapsed = time.perf_counter() - started
            print(f"sign-in (code + session), sequential: {users / elapsed:8.1f} /s")

            latencies: list[float] = []
            stop_at = time.perf_counter() + seconds

            async def reader(k: int) -> None:
                headers = {"Authorization": f"Bearer {tokens[k % len(tokens)]}"}
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    response = await client.get("/v1/me", headers=headers)
                    response.raise_for_status()
                    latencies.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(reader(k) for k in range(concurrency)))
            wall = time.perf_counter() - t0
            print(
                f"GET /v1/me, {concurrency} concurrent: {len(latencies) / wall:8.1f} req/s, "
                f"p50 {percentile(latencies, 50) * 1000:.1f} ms, "
                f"p99 {percentile(latencies, 99) * 1000:.1f} ms"
            )

            book = [phone(i) for i in range(5000)]
            headers = {"Authorization": f"Bearer {tokens[0]}"}
            timings = []
            for _ in range(3):
                t0 = time.perf_counter()
                response = await client.put("/v1/contacts", json={"phones": book}, headers=headers)
                response.raise_for_status()
                timings.append(time.perf_counter() - t0)
            registered = len(response.json()["registered"])
            print(
                f"PUT /v1/contacts, 5,000 numbers ({registered} registered): "
                f"first {timings[0] * 1000:.0f} ms, re-upload median "
                f"{statistics.median(timings[1:]) * 1000:.0f} ms"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.concurrency, args.seconds))
