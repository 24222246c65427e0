"""The file store under ``<data dir>/blobs``: content-addressed, and a deleted file is erased
(P5.3), not merely unlisted."""

from __future__ import annotations

import hashlib
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
