"""File storage for photos and media: content-addressed, behind a small interface.

``BlobStore`` is the interface; ``FileBlobStore`` keeps files under ``<data dir>/blobs``, named
by the SHA-256 of their bytes, so the same file is stored once. Callers delete a blob only when
nothing refers to it any more, and must not store the same key while they delete it (the store
cannot tell a new reference from an old one): ``services/files.py`` holds that rule.

Large uploads are stored from a file in two steps, never whole in memory: ``stage`` copies the
bytes in while hashing them (the slow part, done before the caller takes its lock), ``keep``
names the staged copy by its hash (a rename, under the caller's lock), ``discard`` drops it.
They are served from ``open``: a ``BlobFile`` with the size and, for a store on the local disk,
the path the HTTP layer streams byte ranges from. An S3-compatible store would stage with a
multipart upload to a temporary name and keep with a copy, answer ``open`` with ``path=None``
and implement ``read_range`` (an HTTP Range GET), which the HTTP layer then streams.

P5.3: a deleted file is first renamed out of reach, then overwritten with zeros and synced,
then unlinked, so its bytes are gone from the file and not merely unlisted. Files being written
live in ``.partial/`` and files being erased in ``.erasing/`` until they are done; what a crash
left there (bytes half written, or bytes that were being deleted) is erased the same way by
``drop_leftovers``, which the retention job runs. (Copy-on-write
file systems and SSD wear levelling can still keep old blocks: full-disk encryption is the
operator's answer to that.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Staged:
    """Bytes copied into the store under a temporary name, not yet a blob."""

    digest: str  # SHA-256, hex
    size: int
    handle: str  # where the store holds them; meaningful to that store only


@dataclass(frozen=True, slots=True)
class BlobFile:
    """A stored blob as served: its key, its size, and a local path when it has one."""

    key: str
    size: int
    path: Path | None


class BlobStore(Protocol):
    async def put(self, data: bytes, suffix: str) -> str:
        """Store ``data``; return its key (stable for equal bytes)."""
        ...

    async def stage(self, source: BinaryIO) -> Staged:
        """Copy what ``source`` holds from its position to its end into the store, in chunks,
        hashing it on the way; nothing is named by it yet."""
        ...

    async def keep(self, staged: Staged, suffix: str) -> str:
        """Make staged bytes a blob (or drop them when equal bytes are stored); its key."""
        ...

    async def discard(self, staged: Staged) -> None:
        """Erase staged bytes that will not be kept."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when there is no such blob."""
        ...

    async def open(self, key: str) -> BlobFile | None:
        """Size (and local path) of a blob to be streamed, or None when there is none."""
        ...

    def read_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` up to (not including) ``end`` of a blob, in chunks."""
        ...

    async def delete(self, key: str) -> None:
        """Erase the blob for good; a missing blob is not an error."""
        ...

    async def drop_leftovers(self, older_than: float) -> int:
        """Erase what interrupted writes (begun before ``older_than``, a Unix time) and
        interrupted erasures left behind; how many went."""
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
        self._partial = root / ".partial"
        self._erasing = root / ".erasing"

    def _path(self, key: str) -> Path:
        if not _valid_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes, suffix: str) -> str:
        key = f"{hashlib.sha256(data).hexdigest()}.{suffix}"
        await asyncio.to_thread(self._write, self._path(key), data)
        return key

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._partial.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._partial)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def stage(self, source: BinaryIO) -> Staged:
        return await asyncio.to_thread(self._stage, source)

    def _stage(self, source: BinaryIO) -> Staged:
        self._partial.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self._partial)
        try:
            with os.fdopen(fd, "wb") as fh:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            self._overwrite(Path(tmp))
            raise
        return Staged(digest=digest.hexdigest(), size=size, handle=Path(tmp).name)

    def _staged_path(self, staged: Staged) -> Path:
        path = self._partial / staged.handle
        if path.parent != self._partial or staged.handle.startswith("."):
            raise ValueError(f"not a staged file: {staged.handle!r}")
        return path

    async def keep(self, staged: Staged, suffix: str) -> str:
        key = f"{staged.digest}.{suffix}"
        path, tmp = self._path(key), self._staged_path(staged)
        await asyncio.to_thread(self._keep, tmp, path)
        return key

    def _keep(self, tmp: Path, path: Path) -> None:
        if path.exists():
            self._overwrite(tmp)  # equal bytes are stored: the copy goes
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(path)

    async def discard(self, staged: Staged) -> None:
        await asyncio.to_thread(self._overwrite, self._staged_path(staged))

    async def open(self, key: str) -> BlobFile | None:
        path = self._path(key)
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        return BlobFile(key=key, size=size, path=path)

    async def read_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        path = self._path(key)
        with path.open("rb") as fh:
            await asyncio.to_thread(fh.seek, start)
            while start < end:
                chunk = await asyncio.to_thread(fh.read, min(CHUNK, end - start))
                if not chunk:
                    return
                start += len(chunk)
                yield chunk

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._erase, self._path(key))

    def _erase(self, path: Path) -> None:
        self._erasing.mkdir(parents=True, exist_ok=True)
        doomed = self._erasing / secrets.token_hex(8)
        try:
            path.rename(doomed)  # from here on nobody can open it by its key
        except FileNotFoundError:
            return
        self._overwrite(doomed)

    async def drop_leftovers(self, older_than: float) -> int:
        return await asyncio.to_thread(self._drop_leftovers, older_than)

    def _drop_leftovers(self, older_than: float) -> int:
        dropped = 0
        for folder, only_old in ((self._erasing, False), (self._partial, True)):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                try:
                    if only_old and path.stat().st_mtime >= older_than:
                        continue  # an upload still being written
                except FileNotFoundError:
                    continue  # finished meanwhile
                self._overwrite(path)
                dropped += 1
        return dropped

    @staticmethod
    def _overwrite(path: Path) -> None:
        """Zero the file's bytes, sync, unlink (P5.3); a missing file is not an error."""
        try:
            with path.open("r+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(0)
                while size > 0:
                    step = min(size, CHUNK)
                    fh.write(bytes(step))
                    size -= step
                fh.flush()
                os.fsync(fh.fileno())
        except FileNotFoundError:
            return
        finally:
            path.unlink(missing_ok=True)
