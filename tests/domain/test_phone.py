"""Phone numbers are normalised to E.164 (P1.1)."""

from __future__ import annotations

import random
from collections.abc import Callable

import phonenumbers
import pytest

from payam.domain.errors import InvalidInput
from payam.domain.phone import _already_e164, _parse, normalize_phone, region_of


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


def _outcome(normalise: Callable[[str, str | None], str], raw: str) -> str:
    try:
        return normalise(raw, "IR")
    except InvalidInput as exc:
        return f"{exc.code}: {exc}"


def _e164_spellings() -> list[str]:
    """Every region's example numbers of every type in E.164 form, and near misses of them:
    each last digit, a digit fewer or more, a 0 or the national prefix after the country
    code, and random digits after every country code."""
    rng = random.Random(12)
    out: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):  # every PhoneNumberType with an example
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            code = str(example.country_code)
            national = e164[1 + len(code) :]
            prefix = phonenumbers.country_mobile_token(example.country_code) or ""
            meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
            out += [e164, e164[:-1], e164 + "5", f"+{code}0{national}"]
            out += [e164[:-1] + str(d) for d in range(10)]
            if meta is not None and meta.national_prefix:
                out.append(f"+{code}{meta.national_prefix}{national}")
            out.append(f"+{code}{prefix}{national}")
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 16):
            out.append(f"+{code}" + "".join(rng.choice("0123456789") for _ in range(length)))
    return out


def test_numbers_already_in_e164_normalise_as_phonenumbers_parses_them() -> None:
    """The fast path for numbers already written in E.164 (``_already_e164``) gives exactly
    what the full parse gives, for valid and invalid numbers alike, on every region."""
    spellings = _e164_spellings()
    assert len(spellings) > 20_000
    fast = 0
    for raw in spellings:
        assert _outcome(normalize_phone, raw) == _outcome(_parse, raw), raw
        fast += _already_e164(raw)
    assert fast > 2_000  # the fast path is taken, not merely agreed with
