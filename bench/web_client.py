"""The web client's performance targets (issue 10), measured in Debian's chromium against a real
``payam serve``:

- first load: the JavaScript and CSS the page loads, gzipped as served (fonts aside);
- the chat list interactive after a cold navigation (new browser context, empty cache): from
  navigation start to the list of chats rendered with the filter enabled;
- opening a chat of 10,000 messages: from the click to its latest page (50 messages) on screen;
- a message typed in one tab appearing in another user's tab (Enter to the bubble in the
  DOM, both stamps from the same machine clock).

    python -m bench.web_client [--chats 30] [--messages 10000] [--sends 30]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.server import Server, running_server

CHROMIUM = os.environ.get("PAYAM_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DEVICE = {"model": "bench", "os": "bench", "app_version": "bench"}
_phones = itertools.count(1)


def phone() -> str:
    return f"+98913{os.getpid() % 1000:03d}{next(_phones):04d}"


def bearer(server: Server, number: str, name: str) -> tuple[int, dict[str, str]]:
    httpx.post(server.url + "/v1/auth/code", json={"phone": number}).raise_for_status()
    response = httpx.post(
        server.url + "/v1/auth/session",
        json={"phone": number, "code": server.code_for(number), "name": name, "device": DEVICE},
    )
    response.raise_for_status()
    body = response.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['token']}"}


def first_load_bytes(server: Server) -> tuple[int, int, list[str]]:
    """(gzipped JS+CSS bytes as served, uncompressed bytes, the files)."""
    html = httpx.get(server.url + "/", headers={"Accept": "text/html"}).text
    paths = re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', html)
    packed = plain = 0
    with httpx.Client(base_url=server.url) as client:
        for path in paths:
            response = client.get(path, headers={"Accept-Encoding": "gzip"})
            packed += int(response.headers["content-length"])
            plain += len(response.content)
    return packed, plain, paths


async def seed_history(server: Server, chat_id: int, headers: dict[str, str], n: int) -> None:
    """``n`` messages over one WebSocket, pipelined (the gateway stores many sends at once)."""
    import json  # noqa: PLC0415

    from websockets.asyncio.client import connect  # noqa: PLC0415

    async with connect(server.ws_url, additional_headers=headers, max_size=None) as ws:
        for i in range(n):
            frame = {"type": "send", "chat_id": chat_id, "client_id": f"seed-{i}"}
            await ws.send(json.dumps({**frame, "text": f"message number {i}"}))
        acked = 0
        while acked < n:
            if json.loads(await ws.recv()).get("type") == "ack":
                acked += 1


def sign_in_context(browser: Any, server: Server, number: str, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    request = context.request
    assert request.post(server.url + "/v1/auth/code", data={"phone": number}).status == 202
    response = request.post(
        server.url + "/v1/auth/session",
        data={
            "phone": number,
            "code": server.code_for(number),
            "name": name,
            "device": DEVICE,
            "cookie": True,
        },
    )
    assert response.status == 201, response.text()
    return context


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sends", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    print(f"load average: {os.getloadavg()}")
    with running_server() as server:
        packed, plain, paths = first_load_bytes(server)
        print(f"first load: {packed / 1024:.1f} KiB gzipped JS+CSS ({plain / 1024:.1f} KiB raw)")
        print(f"  files: {', '.join(paths)}")

        me_phone = phone()
        me_id, _ = bearer(server, me_phone, "Reader")
        for i in range(args.chats):
            _, headers = bearer(server, phone(), f"Friend {i}")
            chat = httpx.post(
                server.url + "/v1/chats", json={"type": "direct", "user_id": me_id}, headers=headers
            ).json()
            httpx.post(
                f"{server.url}/v1/chats/{chat['id']}/messages",
                json={"client_id": "hello", "text": f"hello from friend {i}"},
                headers=headers,
            ).raise_for_status()
        _, big_headers = bearer(server, phone(), "Long history")
        big = httpx.post(
            server.url + "/v1/chats", json={"type": "direct", "user_id": me_id}, headers=big_headers
        ).json()
        started = time.monotonic()
        asyncio.run(seed_history(server, big["id"], big_headers, args.messages))
        print(f"seeded {args.messages} messages in {time.monotonic() - started:.0f} s")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            interactive, opening = [], []
            for _ in range(args.runs):
                context = sign_in_context(browser, server, me_phone, "Reader")
                page = context.new_page()
                page.goto(server.url + "/")
                try:
                    page.locator("ul.chats li").nth(args.chats).wait_for()
                except Exception:
                    shot = Path(tempfile.gettempdir()) / "bench-web-client-failure.png"
                    page.screenshot(path=str(shot))
                    print(f"the chat list did not render: {shot}")
                    raise
                page.locator("#chat-filter:enabled").wait_for()
                # The client marks the moment its list of chats first rendered ready for input.
                interactive.append(
                    page.evaluate("performance.getEntriesByName('payam:chats-ready')[0].startTime")
                )
                if os.environ.get("BENCH_TRACE"):
                    print(page.evaluate(TRACE))
                page.locator("ul.chats li", has_text="Long history").wait_for()
                # The latest page is on screen: its newest and its oldest (50th) message.
                last = [f"message number {args.messages - n}" for n in (1, 50)]
                # Click and watch inside the page: no driver round trip in the figure.
                took = page.evaluate(
                    """([title, last]) => new Promise((resolve) => {
                        const t0 = performance.now();
                        const done = () => {
                            const shown = new Set([...document.querySelectorAll('.msg .text')]
                                .map((el) => el.textContent));
                            return last.every((text) => shown.has(text));
                        };
                        new MutationObserver((_, obs) => {
                            if (done()) { obs.disconnect(); resolve(performance.now() - t0); }
                        }).observe(document.body, {subtree: true, childList: true});
                        const items = [...document.querySelectorAll('ul.chats li')];
                        items.find((li) => li.textContent.includes(title))
                            .querySelector('a').click();
                    })""",
                    ["Long history", last],
                )
                opening.append(took)
                context.close()
            print(
                f"chat list interactive (cold, {args.chats + 1} chats): median "
                f"{statistics.median(interactive):.0f} ms, runs {[round(x) for x in interactive]}"
            )
            print(
                f"open a chat of {args.messages} messages to its latest page on screen: median "
                f"{statistics.median(opening):.0f} ms, runs {[round(x) for x in opening]}"
            )

            # Two users in two tabs: Enter in one, the bubble in the other.
            a_phone, b_phone = phone(), phone()
            a = sign_in_context(browser, server, a_phone, "Sender")
            b = sign_in_context(browser, server, b_phone, "Receiver")
            b_id = b.request.get(server.url + "/v1/me").json()["id"]
            chat = a.request.post(
                server.url + "/v1/chats",
                data={"type": "direct", "user_id": b_id},
                headers={"X-CSRF-Token": csrf(a)},
            ).json()
            pa, pb = a.new_page(), b.new_page()
            pa.goto(f"{server.url}/chats/{chat['id']}")
            pb.goto(f"{server.url}/chats/{chat['id']}")
            pb.get_by_role("log").wait_for()
            pb.evaluate(
                """() => { window.__seen = {};
                new MutationObserver(() => {
                  for (const el of document.querySelectorAll('.msg .text')) {
                    const k = el.textContent;
                    if (!(k in window.__seen)) window.__seen[k] = Date.now();
                  }
                }).observe(document.body, {subtree: true, childList: true}); }"""
            )
            pa.evaluate(
                """() => document.addEventListener('keydown', (e) => {
                    if (e.key === 'Enter') window.__sentAt = Date.now(); }, true)"""
            )
            box = pa.get_by_role("textbox", name="Message")
            latencies = []
            for i in range(args.sends):
                text = f"ping {i}"
                box.fill(text)
                box.press("Enter")
                pb.locator(".text", has_text=re.compile(f"^{text}$")).wait_for()
                sent_at = pa.evaluate("window.__sentAt")
                latencies.append(pb.evaluate(f"window.__seen[{text!r}]") - sent_at)
            latencies.sort()
            p50 = statistics.median(latencies)
            print(
                f"tab to tab, {args.sends} messages: p50 {p50:.0f} ms, max {latencies[-1]:.0f} ms"
            )
            browser.close()


TRACE = """JSON.stringify(performance.getEntriesByType('resource').map(e =>
    [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.responseEnd)]))"""


def csrf(context: Any) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "payam_csrf")


if __name__ == "__main__":
    main()
