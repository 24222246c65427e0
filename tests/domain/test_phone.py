"""Phone numbers are normalised to E.164 (P1.1)."""

from __future__ import annotations

import pytest

from payam.domain.errors import InvalidInput
from payam.domain.phone import normalize_phone, region_of


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+989123456789", None),
        ("+98 912 345 6789", None),
        ("+98 (912) 345-6789", "US"),  # a + number ignores the default region
        ("09123456789", "IR"),
        ("0912 345 6789", "IR"),
        ("0098 912 345 6789", "IR"),
        ("۰۹۱۲۳۴۵۶۷۸۹", "IR"),  # Persian digits, as a Persian keyboard types them
        ("09123456789", "ir"),  # region names are not case-sensitive
    ],
)
def test_forms_of_one_number_normalise_to_the_same_e164(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, region) == "+989123456789"


def test_other_countries_normalise_too() -> None:
    assert normalize_phone("(650) 253-0000", "US") == "+16502530000"
    assert normalize_phone("+44 20 7946 0958", "IR") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("09123456789", None),  # a local number with no default region is ambiguous
        ("", "IR"),
        ("   ", "IR"),
        ("12345", "IR"),  # too short
        ("0912345678", "IR"),  # one digit missing
        ("+98912345678901234", None),
        ("not a number", "IR"),
        ("+" + "9" * 70, None),  # absurdly long
        ("09123456789", "XX"),  # unknown region
    ],
)
def test_invalid_numbers_are_refused_with_invalid_phone(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw, region)
    assert caught.value.code == "invalid_phone"


def test_region_of_a_normalised_number() -> None:
    assert region_of("+989123456789") == "IR"
    assert region_of("+16502530000") == "US"
    assert region_of("garbage") is None
