"""Mobile numbers (P1.1): parsed, validated and normalised to E.164 with ``phonenumbers``."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from payam.domain.errors import InvalidInput

MAX_RAW_LENGTH = 64


# "+", then 3 to 17 digits, the first not 0: the only shape ``_already_e164`` looks at.
_E164_SHAPE = re.compile(r"\+[1-9][0-9]{2,16}")


def normalize_phone(raw: str, default_region: str | None) -> str:
    """Return the E.164 form of ``raw`` or raise ``InvalidInput(code="invalid_phone")``.

    ``default_region`` (an ISO 3166 code such as ``IR``) lets local forms like ``0912 345 6789``
    be understood; numbers written with ``+`` ignore it. Any case is accepted (``ir``).
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW_LENGTH:
        raise InvalidInput("Not a phone number.", code="invalid_phone")
    if _already_e164(raw):
        return raw
    return _parse(raw, default_region)


def _parse(raw: str, default_region: str | None) -> str:
    """``phonenumbers``' full parse, validation and formatting: any spelling."""
    # phonenumbers knows regions only in upper case; PAYAM_DEFAULT_REGION=ir is a fair spelling.
    region = default_region.strip().upper() if default_region else None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidInput(
                "Not a phone number: write it with + and the country code.", code="invalid_phone"
            ) from exc
        raise InvalidInput("Not a phone number.", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("Not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _already_e164(raw: str) -> bool:
    """Whether ``raw`` is a valid number written exactly in its E.164 form, which is then its
    own normal form: the case of nearly every number an address book sends.

    ``phonenumbers.parse`` spends most of the time of a contact upload in regular expressions
    for spellings such a number does not have (``docs/benchmarks.md``, issue 12). This takes
    the same steps for this one shape: the country code as parse extracts it (the first 1-3
    digits that name one), the rest as the national number, and the same ``is_valid_number``.
    Where parse could read the digits differently, it answers False and parse decides: a
    national number that begins with 0 (parse keeps leading zeros apart) or with the region's
    national prefix (which parse may strip), and any number that is not valid (so every error
    still comes from parse, with its message). ``tests/domain/test_phone.py`` checks the two
    agree on every region's example numbers and on variants of them."""
    if _E164_SHAPE.fullmatch(raw) is None:
        return False
    digits = raw[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    national = digits[size:]
    if len(national) < 2 or national[0] == "0":
        return False
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return False
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return False
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return bool(phonenumbers.is_valid_number(number))


def region_of(e164: str) -> str | None:
    """The ISO region a normalised number belongs to (used as the uploader's contact region)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
