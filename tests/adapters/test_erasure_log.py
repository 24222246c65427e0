"""The erasure log (P11.3): appended lines survive, copies merge without duplicates, and
pruning drops only what is older than the retention."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from payam.adapters.erasure_log import Erasure, ErasureLog


def test_entries_hold_only_an_id_and_a_time_in_a_private_file(tmp_path: Path) -> None:
    log = ErasureLog(tmp_path / "data" / "erasure-log.jsonl")
    assert log.entries() == []
    log.append(22, 1000.0)
    log.append(7, 2000.0)
    assert log.entries() == [Erasure(1000.0, 22), Erasure(2000.0, 7)]
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert lines == [{"user_id": 22, "erased_at": 1000.0}, {"user_id": 7, "erased_at": 2000.0}]
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_merging_a_copy_keeps_each_erasure_once(tmp_path: Path) -> None:
    log = ErasureLog(tmp_path / "a.jsonl")
    log.append(1, 10.0)
    log.append(2, 20.0)
    log.merge([Erasure(20.0, 2), Erasure(5.0, 9)])
    assert log.entries() == [Erasure(5.0, 9), Erasure(10.0, 1), Erasure(20.0, 2)]
    log.append(3, 30.0)  # appending after a rewrite still goes to the end
    assert log.entries()[-1] == Erasure(30.0, 3)


def test_prune_drops_only_older_lines(tmp_path: Path) -> None:
    log = ErasureLog(tmp_path / "a.jsonl")
    for user_id, at in ((1, 10.0), (2, 20.0), (3, 30.0)):
        log.append(user_id, at)
    assert log.prune(older_than=20.0) == 1
    assert log.entries() == [Erasure(20.0, 2), Erasure(30.0, 3)]
    assert log.prune(older_than=20.0) == 0
    assert ErasureLog(tmp_path / "missing.jsonl").prune(older_than=1.0) == 0
