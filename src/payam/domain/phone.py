"""Mobile numbers (P1.1): parsed, validated and normalised to E.164 with ``phonenumbers``."""

from __future__ import annotations

import phonenumbers

from payam.domain.errors import InvalidInput

MAX_RAW_LENGTH = 64


def normalize_phone(raw: str, default_region: str | None) -> str:
    """Return the E.164 form of ``raw`` or raise ``InvalidInput(code="invalid_phone")``.

    ``default_region`` (an ISO 3166 code such as ``IR``) lets local forms like ``0912 345 6789``
    be understood; numbers written with ``+`` ignore it. Any case is accepted (``ir``).
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW_LENGTH:
        raise InvalidInput("Not a phone number.", code="invalid_phone")
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


def region_of(e164: str) -> str | None:
    """The ISO region a normalised number belongs to (used as the uploader's contact region)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
