"""The garbage collector's policy for a server holding many sockets (issue #12).

A full (generation 2) collection walks every container object the collector tracks. The
objects built at start-up are frozen then (``cli/main.py``), but each open WebSocket adds a few
hundred more for its whole life: with 5,000 sockets open a full collection took 0.8-1.1 s, a
pause of everything (docs/benchmarks.md). Long-lived connections are what freezing is for, so
``CollectorPolicy`` freezes again after every ``step`` connections opened: their objects leave
the collector's sight and a full collection walks at most ``step`` connections' worth (plus
whatever else is new), however many are open. The young generations are collected first, so
short-lived garbage is not frozen.

The price: an object frozen and later dropped is freed by reference counting as usual, but a
reference cycle among frozen objects is not found until they are unfrozen. When the open
connections fall to half of what they were at the last freeze, the policy unfreezes, and the
next full collection (one long pause, rarely) finds such cycles.

``watch_pauses`` logs every full collection longer than ``slow_ms`` (a warning an operator
can act on, and what ``bench/messaging --only idle`` reads).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class CollectorPolicy:
    def __init__(self, *, step: int = 100) -> None:
        self.step = step
        self.opened_since = 0  # connections opened since the last freeze
        self.frozen_at = 0  # connections open at the last freeze (0: nothing frozen by us)
        self.freezes = 0

    def opened(self, count: int) -> None:
        """A connection opened; ``count`` are open now."""
        self.opened_since += 1
        if self.opened_since >= self.step:
            gc.collect(1)  # young garbage first (the young generations only: cheap)
            gc.freeze()
            self.opened_since = 0
            self.frozen_at = count
            self.freezes += 1

    def closed(self, count: int) -> None:
        """A connection closed; ``count`` are open now."""
        if self.frozen_at and count <= self.frozen_at // 2:
            gc.unfreeze()
            self.frozen_at = 0


_watching: dict[str, Any] = {}


def watch_pauses(slow_ms: float = 50.0) -> None:
    """Log each full collection that takes longer than ``slow_ms`` (once per process)."""
    if _watching:
        return
    _watching["slow"] = slow_ms / 1000

    def callback(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:  # the oldest generation: a full collection
            return
        if phase == "start":
            _watching["started"] = time.perf_counter()
        elif "started" in _watching:
            took = time.perf_counter() - _watching.pop("started")
            if took > _watching["slow"]:
                log.warning(
                    "full garbage collection took %.0f ms (%d objects frozen)",
                    took * 1000,
                    gc.get_freeze_count(),
                )

    gc.callbacks.append(callback)
