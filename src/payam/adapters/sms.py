"""Sending text messages (sign-in codes, invitations).

``SmsSender`` is the interface. ``OutboxSms`` (the default) appends one JSON object per line to
``<data dir>/sms-outbox.jsonl`` so a self-hoster without a gateway can read codes and tests can
too; ``HttpSms`` posts to a real gateway with a configurable body template. Both raise
``SmsError`` when the message could not be handed over.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import httpx


class SmsError(Exception):
    """The message was not accepted by the backend."""


class SmsSender(Protocol):
    async def send(self, to: str, text: str) -> None:
        """Hand ``text`` over for delivery to ``to`` (E.164)."""
        ...


class OutboxSms:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send(self, to: str, text: str) -> None:
        line = json.dumps({"to": to, "text": text}, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


_PLACEHOLDER = re.compile(r"\{(to|text)\}")


class HttpSms:
    """POSTs ``body_template`` with ``{to}`` and ``{text}`` replaced by JSON string literals."""

    def __init__(
        self,
        url: str,
        body_template: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.body_template = body_template
        # JSON unless the operator's headers say otherwise (e.g. with a charset).
        client_headers = httpx.Headers({"content-type": "application/json"})
        client_headers.update(dict(headers or {}))
        self._client = httpx.AsyncClient(
            timeout=timeout, headers=client_headers, transport=transport
        )

    def render(self, to: str, text: str) -> str:
        values = {"to": to, "text": text}
        # One pass, so a value that itself contains "{to}" or "{text}" is never expanded.
        return _PLACEHOLDER.sub(
            lambda found: json.dumps(values[found.group(1)]), self.body_template
        )

    async def send(self, to: str, text: str) -> None:
        body = self.render(to, text)
        try:
            response = await self._client.post(self.url, content=body.encode())
        except httpx.HTTPError as exc:
            raise SmsError(f"SMS gateway unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise SmsError(f"SMS gateway answered {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
