"""The pure rules of channel statistics (P10.1): coarse attributes and small-cell suppression."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payam.domain.aggregates import HIDDEN, Cells, add_up, calling_code, os_family, suppress


def test_calling_codes_of_one_to_three_digits() -> None:
    assert calling_code("+989121234567") == "98"
    assert calling_code("+12025550123") == "1"
    assert calling_code("+4915112345678") == "49"
    assert calling_code("+37491234567") == "374"
    assert calling_code("989") == "98"  # the three leading digits storage groups by
    assert calling_code("+") is None


def test_os_families() -> None:
    assert os_family("Android 15") == "Android"
    assert os_family("iOS 17.2") == "iOS"
    assert os_family("iPadOS 17") == "iOS"
    assert os_family("Windows 11") == "Windows"
    assert os_family("macOS 14.1") == "macOS"
    assert os_family("Mac OS X") == "macOS"
    assert os_family("Ubuntu 24.04") == "Linux"
    assert os_family("Web (Firefox)") == "Web"
    assert os_family("KaiOS") == "Other"
    assert os_family(None) == "Other"


def test_small_cells_are_pooled_unnamed() -> None:
    shown = suppress({"98": 40, "49": 1, "1": 12}, k=10)
    # "49" is not named; and "other" would be 1, which the total minus the shown cells would
    # give away: the smallest shown cell joins it.
    assert shown == Cells(53, {"98": 40}, 13)


def test_a_group_under_k_shows_nothing_and_zero_shows_zero() -> None:
    assert suppress({"98": 9}, k=10) == HIDDEN
    assert suppress({"98": 5, "49": 4}, k=10) == HIDDEN
    assert suppress({}, k=10) == Cells(0, {}, 0)
    assert suppress({"98": 10}, k=10) == Cells(10, {"98": 10}, 0)


def test_a_given_total_with_unkeyed_people_goes_to_other() -> None:
    assert suppress({"98": 10}, k=10, total=25) == Cells(25, {"98": 10}, 15)


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(min_value=0, max_value=40)),
    st.integers(min_value=1, max_value=15),
)
def test_no_shown_figure_describes_fewer_than_k_people(cells: dict[str, int], k: int) -> None:
    shown = suppress(cells, k)
    total = sum(cells.values())
    if shown == HIDDEN:
        assert 0 < total < k
        return
    assert shown.total == total
    assert shown.shown is not None and shown.other is not None
    assert all(n >= k for n in shown.shown.values())
    # What is not shown, together, is nobody or at least k people.
    assert shown.other == total - sum(shown.shown.values())
    assert shown.other == 0 or shown.other >= k


def test_several_days_add_up_what_each_day_showed() -> None:
    days = [Cells(30, {"98": 20}, 10), HIDDEN, Cells(12, {"49": 12}, 0)]
    assert add_up(days) == Cells(42, {"49": 12, "98": 20}, 10)
    assert add_up([]) == Cells(0, {}, 0)


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(min_value=1, max_value=40)),
    st.integers(min_value=2, max_value=15),
)
def test_one_more_person_alone_in_their_group_is_never_shown_by_name(
    cells: dict[str, int], k: int
) -> None:
    """Differencing, in general: the same crowd with and without one person whose group is
    theirs alone. Their group is never named, and no cell shown both ways changes: what moves
    is the total, other, and which cells are pooled (one more person in other can also make
    pooling a shown cell unnecessary, e.g. {a: 1, b: 2} with k=2)."""
    without = suppress(cells, k)
    with_them = suppress({**cells, "target": 1}, k)
    if with_them == HIDDEN:
        return
    assert with_them.shown is not None
    assert "target" not in with_them.shown
    if without == HIDDEN:
        assert with_them.shown == {}
        return
    assert without.shown is not None
    for key in with_them.shown.keys() & without.shown.keys():
        assert with_them.shown[key] == without.shown[key]
    assert with_them.total == (without.total or 0) + 1
