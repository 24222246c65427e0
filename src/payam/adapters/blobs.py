"""File storage for photos and media: content-addressed, behind a small interface.

``BlobStore`` is the interface; ``FileBlobStore`` keeps files under ``<data dir>/blobs``, named
by the SHA-256 of their bytes, so the same file is stored once. Callers delete a blob only when
nothing refers to it any more, and must not store the same key while they delete it (the store
cannot tell a new reference from an old one). An S3-compatible store can implement the same
three methods.

P5.3: a deleted file is first renamed out of reach, then overwritten with zeros and synced,
then unlinked, so its bytes are gone from the file and not merely unlisted. (Copy-on-write
file systems and SSD wear levelling can still keep old blocks: full-disk encryption is the
operator's answer to that.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    async def put(self, data: bytes, suffix: str) -> str:
        """Store ``data``; return its key (stable for equal bytes)."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when there is no such blob."""
        ...

    async def delete(self, key: str) -> None:
        """Erase the blob for good; a missing blob is not an error."""
        ...


def _valid_key(key: str) -> bool:
    digest, _, suffix = key.partition(".")
    return (
        len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
        and 0 < len(suffix) <= 8
        and suffix.isascii()
        and suffix.isalnum()
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

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._erase, self._path(key))

    @staticmethod
    def _erase(path: Path) -> None:
        doomed = path.with_name(f".del-{secrets.token_hex(8)}")
        try:
            path.rename(doomed)  # from here on nobody can open it by its key
        except FileNotFoundError:
            return
        try:
            with doomed.open("r+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(0)
                fh.write(bytes(size))
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            doomed.unlink(missing_ok=True)
