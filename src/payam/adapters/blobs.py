"""File storage for photos and media: content-addressed, behind a small interface.

``BlobStore`` is the interface; ``FileBlobStore`` keeps files under ``<data dir>/blobs``, named
by the SHA-256 of their bytes, so the same file is stored once. Callers delete a blob only when
nothing refers to it any more (P5.3: then its bytes are gone from disk). An S3-compatible store
can implement the same four methods.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    async def put(self, data: bytes, suffix: str) -> str:
        """Store ``data``; return its key (stable for equal bytes)."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    def path(self, key: str) -> Path | None:
        """A local path to stream from, if the store has one."""
        ...

    async def delete(self, key: str) -> None: ...


def _valid_key(key: str) -> bool:
    digest, _, suffix = key.partition(".")
    return (
        len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
        and suffix.isalnum()
        and len(suffix) <= 8
    )


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _valid_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes, suffix: str) -> str:
        key = f"{hashlib.sha256(data).hexdigest()}.{suffix}"
        await asyncio.to_thread(self._write, self._path(key), data)
        return key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.exists() else None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)
