"""Named limits: token buckets and the growing waits between codes (P1.2, P9.2)."""

from __future__ import annotations

import pytest

from payam.domain.limits import (
    DEFAULT_CODE_RESEND_WAITS,
    DEFAULT_RATES,
    BucketState,
    Limit,
    Rate,
    code_resend_wait,
    give_back,
    take,
)


def test_rate_parse_reads_capacity_per_seconds() -> None:
    rate = Rate.parse("10/3600")
    assert rate == Rate(10, 3600)
    assert rate.per_second == pytest.approx(10 / 3600)
    assert Rate.parse("2.5/60") == Rate(2.5, 60)


@pytest.mark.parametrize("text", ["", "10", "10/", "/60", "a/b", "1/2/3", "0/60", "5/0", "-1/60"])
def test_rate_parse_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        Rate.parse(text)


def test_every_limit_has_a_default() -> None:
    assert set(DEFAULT_RATES) == set(Limit)
    for limit in Limit:
        assert limit.default.capacity > 0
        assert limit.default.period > 0


def test_a_new_bucket_is_full_and_empties_one_token_at_a_time() -> None:
    rate = Rate(3, 300)
    state = None
    for _ in range(3):
        state, wait = take(state, rate, 1, now=1000)
        assert wait == 0
    assert state is not None
    assert state.tokens == pytest.approx(0)
    refused, wait = take(state, rate, 1, now=1000)
    # One token comes back every 100 seconds.
    assert wait == pytest.approx(100)
    assert refused.tokens == pytest.approx(0)


def test_a_refused_take_costs_nothing() -> None:
    rate = Rate(2, 200)
    state = BucketState(0.5, 1000)
    after, wait = take(state, rate, 1, now=1000)
    assert wait == pytest.approx(50)
    assert after.tokens == pytest.approx(0.5)
    after, wait = take(after, rate, 1, now=1050)
    assert wait == 0
    assert after.tokens == pytest.approx(0)


def test_the_bucket_refills_with_time_but_never_above_capacity() -> None:
    rate = Rate(4, 400)
    state = BucketState(0, 0)
    state, wait = take(state, rate, 0, now=200)
    assert wait == 0
    assert state.tokens == pytest.approx(2)
    state, _ = take(state, rate, 0, now=1_000_000)
    assert state.tokens == pytest.approx(4)


def test_time_going_backwards_does_not_mint_tokens() -> None:
    rate = Rate(4, 400)
    state, _ = take(BucketState(1, 1000), rate, 0, now=500)
    assert state.tokens == pytest.approx(1)


def test_a_cost_above_capacity_never_passes_and_says_a_full_period() -> None:
    rate = Rate(5, 100)
    state, wait = take(None, rate, 6, now=0)
    assert wait >= 100
    assert state.tokens == pytest.approx(5)


def test_code_resend_waits_grow_then_repeat_the_last() -> None:
    waits = (30, 60, 300)
    assert code_resend_wait(0, waits) == 0
    assert [code_resend_wait(n, waits) for n in range(1, 6)] == [30, 60, 300, 300, 300]
    assert code_resend_wait(3, ()) == 0


def test_default_resend_waits_start_short_and_grow() -> None:
    waits = DEFAULT_CODE_RESEND_WAITS
    assert waits[0] <= 60
    assert list(waits) == sorted(waits)
    assert waits[-1] > waits[0]


def test_give_back_returns_tokens_but_never_above_capacity() -> None:
    rate = Rate(2, 200)
    state, _ = take(None, rate, 1, now=0)
    assert give_back(state, rate, 1, now=0).tokens == pytest.approx(2)
    assert give_back(state, rate, 5, now=0).tokens == pytest.approx(2)
    empty = BucketState(0, 0)
    assert give_back(empty, rate, 1, now=50).tokens == pytest.approx(1.5)
