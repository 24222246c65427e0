"""Pure rules of channel statistics (P10.1): the coarse attributes a viewer is counted under,
and the suppression of small cells before anything is shown.

Attributes are coarse on purpose: a country calling code (``98``, not the number), an OS
family (``Android``, not the model or version), a UTC hour. A report shows a cell only when it
describes at least ``k`` people; see :func:`suppress` for how a hidden cell is kept from being
worked out of the cells that are shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

OS_FAMILIES = ("Android", "iOS", "Windows", "macOS", "Linux", "Web", "Other")
OTHER_OS = "Other"
# ITU calling codes are a prefix code (no code starts another) of 1 to 3 digits, so the first
# three digits of a number decide its code; storage groups numbers by them.
CODE_DIGITS = 3
_CALLING_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
# Checked in order: the first pattern found in the device's OS string decides (Android before
# Linux, which Android strings often name too).
_OS_PATTERNS = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"android", "Android"),
        (r"\b(ios|iphone|ipados|ipad)", "iOS"),
        (r"windows|\bwin(32|64)?\b", "Windows"),
        (r"mac ?os|os x|darwin|macintosh", "macOS"),
        (r"linux|ubuntu|debian|fedora", "Linux"),
        (r"\bweb|browser", "Web"),
    )
)


def calling_code(digits: str) -> str | None:
    """The country calling code a number starts with (``+98912...`` or ``98912`` -> ``98``);
    None when no code matches."""
    digits = digits.removeprefix("+")
    for length in range(1, CODE_DIGITS + 1):
        if digits[:length] in _CALLING_CODES:
            return digits[:length]
    return None


def os_family(os: str | None) -> str:
    """The family of a device's self-declared OS ("Android 15" -> "Android")."""
    lowered = (os or "").lower()
    for pattern, family in _OS_PATTERNS:
        if pattern.search(lowered):
            return family
    return OTHER_OS


@dataclass(frozen=True, slots=True)
class Cells:
    """One partition of a group of people (by country code, by OS, by hour) as it may be shown.

    ``total`` is everyone in the group, ``shown`` the cells of at least k people, ``other``
    everyone else pooled (0, or at least k). When the group itself is under k, nothing is
    shown: ``total``, ``shown`` and ``other`` are all None. Hidden cells are not named, since
    a name alone ("someone from +49 was here") is the very fact to hide.
    """

    total: int | None
    shown: dict[str, int] | None
    other: int | None

    def as_json(self) -> dict[str, object]:
        return {"total": self.total, "cells": self.shown, "other": self.other}


HIDDEN = Cells(None, None, None)


def suppress(cells: Mapping[str, int], k: int, total: int | None = None) -> Cells:
    """Show the cells of at least ``k`` people; pool the rest into ``other``.

    Secondary suppression: ``other`` is ``total`` minus the shown cells, so a lone small cell
    pooled there could be read off as that difference. While ``other`` is under k but not 0,
    the smallest shown cell joins the pool too. A ``total`` under k (but not 0) hides
    everything. Zero describes nobody and is shown as 0.
    """
    positive = {key: n for key, n in cells.items() if n > 0}
    total = sum(positive.values()) if total is None else total
    if 0 < total < k:
        return HIDDEN
    shown = {key: n for key, n in positive.items() if n >= k}
    other = total - sum(shown.values())
    # Smallest first; ties by name, so the same figures always give the same report.
    for key in sorted(shown, key=lambda key: (shown[key], key)):
        if not 0 < other < k:
            break
        other += shown.pop(key)
    return Cells(total, dict(sorted(shown.items())), other)


def add_up(published: Iterable[Cells]) -> Cells:
    """Figures for several days: sums of what each day showed, never recomputed from the raw
    counts, so that comparing two ranges gives nothing the days did not show already. A day
    that showed nothing adds nothing."""
    total = other = 0
    shown: dict[str, int] = {}
    for day in published:
        if day.total is None or day.shown is None or day.other is None:
            continue
        total += day.total
        other += day.other
        for key, n in day.shown.items():
            shown[key] = shown.get(key, 0) + n
    return Cells(total, dict(sorted(shown.items())), other)
