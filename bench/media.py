"""Media figures: what an upload costs (a phone photo re-encoded, large files streamed to the
blob store), what a download and a range request cost, and what carrying media adds to a page
of history.

Drives a real ``payam serve`` (SQLite default, durable commits, rate limits off) on loopback
with one keep-alive HTTP client. Two accounts are written through the storage layer; their
direct chat is opened over HTTP. Usage:

    python -m bench.media [--photos 10] [--file-mb 20] [--pages 200]

Every loop is bounded by its count.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.messaging import Account, create_accounts, machine, ms, percentile
from bench.server import Server, running_server


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12 MP JPEG at quality 90, with detail a camera would have (not a flat colour)."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(base, noise, 0.3).save(out, "JPEG", quality=90)
    return out.getvalue()


def headers(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def timed_uploads(
    client: httpx.AsyncClient, account: Account, payloads: list[bytes], mime: str
) -> tuple[list[float], list[int]]:
    took, ids = [], []
    for data in payloads:
        start = time.perf_counter()
        response = await client.post(
            "/v1/media", files={"file": ("f", data, mime)}, headers=headers(account)
        )
        took.append(time.perf_counter() - start)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return took, ids


def summary(label: str, took: list[float]) -> None:
    print(
        f"{label}: n={len(took)} median {ms(statistics.median(took))}, "
        f"p95 {ms(percentile(took, 95))}, max {ms(max(took))}"
    )


async def history_pages(
    client: httpx.AsyncClient, account: Account, chat_id: int, pages: int
) -> list[float]:
    took = []
    for _ in range(pages):
        start = time.perf_counter()
        response = await client.get(
            f"/v1/chats/{chat_id}/messages?limit=50", headers=headers(account)
        )
        took.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return took


async def fill_chat(
    client: httpx.AsyncClient, sender: Account, chat_id: int, media_ids: list[int], tag: str
) -> None:
    for n in range(50):
        body: dict[str, object] = {"client_id": f"{tag}-{n}", "text": f"message {n}"}
        if media_ids:
            body["media_ids"] = [media_ids[n % len(media_ids)]]
        response = await client.post(
            f"/v1/chats/{chat_id}/messages", json=body, headers=headers(sender)
        )
        assert response.status_code == 201, response.text


async def open_chat(client: httpx.AsyncClient, a: Account, b: Account) -> int:
    response = await client.post(
        "/v1/chats", json={"type": "direct", "user_id": b.user_id}, headers=headers(a)
    )
    assert response.status_code in {200, 201}, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def main(args: argparse.Namespace) -> None:
    print(machine(), f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="payam-bench-media-") as tmp:
        data_dir = Path(tmp)
        sara, omid, leila = await create_accounts(data_dir, 3)
        photo = phone_photo()
        big = os.urandom(args.file_mb * 1024 * 1024)
        with running_server(data_dir=data_dir) as server:
            await run(server, args, photo, big, sara, omid, leila)


async def run(
    server: Server,
    args: argparse.Namespace,
    photo: bytes,
    big: bytes,
    sara: Account,
    omid: Account,
    leila: Account,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        print(f"photo: {len(photo) / 1e6:.1f} MB JPEG, 4000x3000")
        cpu_before = sum(server.cpu_seconds())
        took, photo_ids = await timed_uploads(client, sara, [photo] * args.photos, "image/jpeg")
        cpu = sum(server.cpu_seconds()) - cpu_before
        summary("photo upload (re-encode to 2560 px WebP + thumbnail)", took)
        print(f"  server CPU per photo: {ms(cpu / args.photos)}")
        took, small_ids = await timed_uploads(
            client, sara, [os.urandom(1024 * 1024) for _ in range(10)], "application/pdf"
        )
        summary("1 MB file upload", took)
        took, big_ids = await timed_uploads(client, sara, [big] * 3, "application/octet-stream")
        summary(f"{args.file_mb} MB file upload", took)
        print(f"  {args.file_mb / statistics.median(took):.0f} MB/s")
        full = []
        for _ in range(5):
            start = time.perf_counter()
            response = await client.get(f"/v1/media/{big_ids[0]}", headers=headers(sara))
            full.append(time.perf_counter() - start)
            assert len(response.content) == len(big)
        summary(f"{args.file_mb} MB download", full)
        ranged = []
        for n in range(50):
            start = time.perf_counter()
            offset = n * 256 * 1024
            response = await client.get(
                f"/v1/media/{big_ids[0]}",
                headers={**headers(sara), "Range": f"bytes={offset}-{offset + 1024 * 1024 - 1}"},
            )
            ranged.append(time.perf_counter() - start)
            assert response.status_code == 206
        summary("1 MB range of it", ranged)
        plain_chat = await open_chat(client, sara, omid)
        media_chat = await open_chat(client, sara, leila)
        await fill_chat(client, sara, plain_chat, [], "plain")
        await fill_chat(client, sara, media_chat, photo_ids + small_ids, "media")
        await history_pages(client, omid, plain_chat, 20)  # warm up
        summary(
            "page of 50 messages, no media",
            await history_pages(client, omid, plain_chat, args.pages),
        )
        summary(
            "page of 50 messages, one file each",
            await history_pages(client, leila, media_chat, args.pages),
        )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--file-mb", type=int, default=20)
    parser.add_argument("--pages", type=int, default=200)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
