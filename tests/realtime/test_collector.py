"""The collector policy (issue #12): the objects of long-lived sockets are frozen as the number
of open connections grows, unfrozen when it falls by half; slow full collections are logged."""

from __future__ import annotations

import gc
import logging

import pytest

from payam.realtime import collector
from payam.realtime.collector import CollectorPolicy


@pytest.fixture
def gc_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(gc, "collect", lambda generation=2: calls.append(f"collect{generation}"))
    return calls


def test_connections_are_frozen_every_step_openings(gc_calls: list[str]) -> None:
    policy = CollectorPolicy(step=100)
    for count in range(1, 100):
        policy.opened(count)
    assert gc_calls == []
    policy.opened(100)
    assert gc_calls == ["collect1", "freeze"]
    for count in range(101, 1001):
        policy.opened(count)
    assert policy.freezes == gc_calls.count("freeze") == 10
    # Churn (as many closing as opening) still freezes the new ones.
    for _ in range(100):
        policy.closed(999)
        policy.opened(1000)
    assert policy.freezes == 11


def test_falling_to_half_unfreezes_so_cycles_among_closed_sockets_are_found(
    gc_calls: list[str],
) -> None:
    policy = CollectorPolicy(step=100)
    for count in range(1, 201):
        policy.opened(count)
    assert policy.frozen_at == 200
    for count in range(199, 100, -1):
        policy.closed(count)
    assert "unfreeze" not in gc_calls
    policy.closed(100)
    assert gc_calls[-1] == "unfreeze"
    policy.closed(99)
    policy.closed(50)
    assert gc_calls.count("unfreeze") == 1  # not again while nothing is frozen


def test_a_slow_full_collection_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(collector, "_watching", {})
    before = list(gc.callbacks)
    try:
        collector.watch_pauses(slow_ms=0)  # every full collection is "slow"
        collector.watch_pauses(slow_ms=0)  # once per process
        assert len(gc.callbacks) == len(before) + 1
        with caplog.at_level(logging.WARNING, logger="payam.realtime.collector"):
            gc.collect(1)
            assert not caplog.records  # a young collection is not a pause worth a word
            gc.collect()
        assert "full garbage collection took" in caplog.text
    finally:
        gc.callbacks[:] = before
