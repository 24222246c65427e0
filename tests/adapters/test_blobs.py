"""The file store under ``<data dir>/blobs``: content-addressed, and a deleted file is erased
(P5.3), not merely unlisted."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from payam.adapters.blobs import FileBlobStore

DATA = b"\x89PNG pretend photo bytes PAYAM-BLOB-MARKER"


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def test_put_names_the_file_by_its_sha256_and_get_returns_the_bytes(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = await store.put(DATA, "webp")
    assert key == f"{hashlib.sha256(DATA).hexdigest()}.webp"
    assert await store.get(key) == DATA
    [path] = files_under(tmp_path)
    assert path.name == key
    assert path.read_bytes() == DATA


async def test_equal_bytes_are_stored_once(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    assert await store.put(DATA, "webp") == await store.put(DATA, "webp")
    assert len(files_under(tmp_path)) == 1


async def test_delete_erases_the_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = await store.put(DATA, "webp")
    kept = await store.put(b"another photo", "webp")
    await store.delete(key)
    assert await store.get(key) is None
    assert [path.name for path in files_under(tmp_path)] == [kept]
    for path in files_under(tmp_path):
        assert b"PAYAM-BLOB-MARKER" not in path.read_bytes()


async def test_delete_overwrites_the_bytes_before_unlinking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep the unlinked file around to look at what was left in it.
    store = FileBlobStore(tmp_path)
    key = await store.put(DATA, "webp")
    seen: list[bytes] = []
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        seen.append(self.read_bytes())
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    await store.delete(key)
    assert seen == [bytes(len(DATA))]


async def test_deleting_a_missing_blob_is_not_an_error(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = await store.put(DATA, "webp")
    await store.delete(key)
    await store.delete(key)
    assert await store.get(key) is None


async def test_a_deleted_blob_can_be_stored_again(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = await store.put(DATA, "webp")
    await store.delete(key)
    assert await store.put(DATA, "webp") == key
    assert await store.get(key) == DATA


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "a" * 64,
        "A" * 64 + ".webp",
        "a" * 63 + ".webp",
        "a" * 64 + ".we/bp",
        "a" * 64 + ".٣",
        "a" * 64 + ".",
        "a" * 64 + ".webpwebpw",
    ],
)
async def test_keys_that_are_not_ours_are_refused(tmp_path: Path, key: str) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="not a blob key"):
        await store.get(key)
    with pytest.raises(ValueError, match="not a blob key"):
        await store.delete(key)


async def test_what_a_crash_left_half_written_or_half_erased_is_erased_later(
    tmp_path: Path,
) -> None:
    store = FileBlobStore(tmp_path)
    kept = await store.put(b"a file in use", "webp")
    erasing, partial = tmp_path / ".erasing", tmp_path / ".partial"
    erasing.mkdir()
    (erasing / "doomed").write_bytes(b"PAYAM-BLOB-MARKER being deleted")
    (partial / "abandoned").write_bytes(b"PAYAM-BLOB-MARKER half written")
    (partial / "in-flight").write_bytes(b"PAYAM-BLOB-MARKER still arriving")
    old = time.time() - 7200
    os.utime(partial / "abandoned", (old, old))
    assert await store.drop_leftovers(time.time() - 3600) == 2
    left = {path.name: path.read_bytes() for path in files_under(tmp_path)}
    assert left == {kept: b"a file in use", "in-flight": b"PAYAM-BLOB-MARKER still arriving"}


async def test_a_large_file_is_staged_kept_once_and_read_by_ranges(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)
    staged = await store.stage(io.BytesIO(data))
    assert staged.size == len(data) and staged.digest == hashlib.sha256(data).hexdigest()
    key = await store.keep(staged, "bin")
    assert key == f"{staged.digest}.bin"
    assert await store.keep(await store.stage(io.BytesIO(data)), "bin") == key  # stored once
    dropped = await store.stage(io.BytesIO(b"PAYAM-BLOB-MARKER not kept"))
    await store.discard(dropped)
    found = await store.open(key)
    assert found is not None and found.size == len(data) and found.path is not None
    chunks = [c async for c in store.read_range(key, 1000, 2 * 1024 * 1024 + 5)]
    assert b"".join(chunks) == data[1000 : 2 * 1024 * 1024 + 5]
    assert [p.name for p in files_under(tmp_path)] == [key]
    assert await store.open("0" * 64 + ".bin") is None
