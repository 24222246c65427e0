"""The erasure log (P11.3, P5.3): which accounts were erased, and when, so that restoring a
backup made before an erasure erases that account again (``payam restore``).

One JSON object per line, ``{"user_id": 22, "erased_at": 1796000000.0}``: a user id (which,
once the account is gone, names nobody in the live database) and a time, nothing else. It
lives outside the database on purpose: a restore replaces the database, and must not replace
the record of what was erased after the backup was made. Lines are appended under an
exclusive ``flock`` and fsynced before the erasure runs; ``prune`` drops lines older than the
retention (``erasure_log_retention_days``), after which a backup that old may not be restored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True, order=True)
class Erasure:
    erased_at: float
    user_id: int


class ErasureLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[IO[str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def append(self, user_id: int, erased_at: float) -> None:
        """Record an erasure durably (before it runs: a restore then erases an account whose
        owner asked for it, even if the server stopped half-way)."""
        line = json.dumps({"user_id": user_id, "erased_at": erased_at}, separators=(",", ":"))
        with self._locked() as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def entries(self) -> list[Erasure]:
        if not self.path.exists():
            return []
        with self._locked() as fh:
            fh.seek(0)
            return _parse(fh.read())

    def merge(self, entries: list[Erasure]) -> None:
        """Add these entries (from another copy of the log) to the ones held, once each."""
        with self._locked() as fh:
            fh.seek(0)
            merged = sorted(set(_parse(fh.read())) | set(entries))
            _rewrite(fh, merged)

    def prune(self, older_than: float) -> int:
        """Drop the entries of erasures before ``older_than``; how many went."""
        if not self.path.exists():
            return 0
        with self._locked() as fh:
            fh.seek(0)
            held = _parse(fh.read())
            kept = [e for e in held if e.erased_at >= older_than]
            if len(kept) != len(held):
                _rewrite(fh, kept)
            return len(held) - len(kept)


def _parse(text: str) -> list[Erasure]:
    found = []
    for line in text.splitlines():
        if line.strip():
            item = json.loads(line)
            found.append(Erasure(float(item["erased_at"]), int(item["user_id"])))
    return found


def _rewrite(fh: IO[str], entries: list[Erasure]) -> None:
    # In place under the lock (O_APPEND writes go to the end after the truncate).
    fh.seek(0)
    fh.truncate()
    for e in entries:
        fh.write(json.dumps({"user_id": e.user_id, "erased_at": e.erased_at}) + "\n")
    fh.flush()
    os.fsync(fh.fileno())
