"""Sending text messages (sign-in codes, invitations).

``SmsSender`` is the interface. ``OutboxSms`` (the default) appends one JSON object per line to
``<data dir>/sms-outbox.jsonl`` so a self-hoster without a gateway can read codes and tests can
too; ``HttpSms`` posts to a real gateway with a configurable body template. Both raise
``SmsError`` when the message could not be handed over.

The outbox holds phone numbers and codes, so it is personal data under retention (P4.3, P7.1):
each line carries when it was written (``at``, Unix seconds), and ``SmsRecords`` is what a
sender that keeps copies offers the retention job (``prune``) and account erasure (``erase``).
A rewrite overwrites the removed lines' bytes in place before the file is cut short, so they
are not left in freed blocks of the file (P5.3, within what the file system allows).
``HttpSms`` keeps nothing and is not an ``SmsRecords``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from payam.domain.clock import Clock, SystemClock


class SmsError(Exception):
    """The message was not accepted by the backend."""


class SmsSender(Protocol):
    async def send(self, to: str, text: str) -> None:
        """Hand ``text`` over for delivery to ``to`` (E.164)."""
        ...


@runtime_checkable
class SmsRecords(Protocol):
    """A sender that keeps a copy of what it sent."""

    async def prune(self, older_than: float) -> int:
        """Remove what was sent before ``older_than`` (Unix time); how many went."""
        ...

    async def erase(self, to: str) -> int:
        """Remove everything sent to ``to`` (E.164); how many went."""
        ...


class OutboxSms:
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or SystemClock()
        self._lock = asyncio.Lock()

    async def send(self, to: str, text: str) -> None:
        record = {"to": to, "text": text, "at": self.clock.now()}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # Another server process on the same data directory may be rewriting the file.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    async def prune(self, older_than: float) -> int:
        # A line without a time predates retention: its age is unknown, so it goes.
        def expired(record: dict[str, object]) -> bool:
            at = record.get("at")
            return not isinstance(at, int | float) or at < older_than

        async with self._lock:
            return await asyncio.to_thread(self._remove, expired)

    async def erase(self, to: str) -> int:
        async with self._lock:
            return await asyncio.to_thread(self._remove, lambda record: record.get("to") == to)

    def _remove(self, doomed: Callable[[dict[str, object]], bool]) -> int:
        """Rewrite the file without the doomed lines, zeroing the bytes past the kept ones."""
        try:
            fh = self.path.open("r+b")
        except FileNotFoundError:
            return 0
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # appends from other processes wait
            old = fh.read()
            kept: list[bytes] = []
            removed = 0
            for line in old.splitlines(keepends=True):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None  # a torn line from a crash: nobody can read it, it goes
                if isinstance(record, dict) and not doomed(record):
                    kept.append(line if line.endswith(b"\n") else line + b"\n")
                else:
                    removed += 1
            if not removed:
                return 0
            content = b"".join(kept)
            fh.seek(0)
            fh.write(content)
            fh.write(bytes(max(0, len(old) - len(content))))
            fh.flush()
            os.fsync(fh.fileno())
            fh.truncate(len(content))
            os.fsync(fh.fileno())
        return removed


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
