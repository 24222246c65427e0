"""Keyed hashes, tokens and codes (P1.2, P2.2, P9.1)."""

from __future__ import annotations

import hashlib

import pytest

from payam.domain.keys import Keys, new_code, new_token, parse_code, same_digest, token_hash


def test_codes_are_six_ascii_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isascii() and code.isdigit() for code in codes)
    assert len(codes) > 150


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("012345", "012345"),
        ("۰۱۲۳۴۵", "012345"),  # Persian
        ("\u0660\u0661\u0662\u0663\u0664\u0665", "012345"),  # Arabic-Indic
        ("\uff10\uff11\uff12\uff13\uff14\uff15", "012345"),  # full width
    ],
)
def test_parse_code_accepts_digits_of_any_script(typed: str, parsed: str) -> None:
    assert parse_code(typed) == parsed


@pytest.mark.parametrize(
    "typed",
    ["", "12345", "1234567", "12 345", "abcdef", "12345²", "\u0661\u0662\u0663\u0664\u0665x"],
)
def test_parse_code_refuses_anything_but_six_digits(typed: str) -> None:
    assert parse_code(typed) is None


def test_keyed_hashes_depend_on_the_secret_and_the_input() -> None:
    one, two = Keys(b"a" * 32), Keys(b"b" * 32)
    phone = "+989123456789"
    assert one.phone_hash(phone) != two.phone_hash(phone)
    assert one.phone_hash(phone) != one.phone_hash("+989123456780")
    # Not a plain hash of the number: a leaked database does not give numbers back.
    assert one.phone_hash(phone) != hashlib.sha256(phone.encode()).digest()
    ph = one.phone_hash(phone)
    assert one.code_hash(ph, "123456") != one.code_hash(ph, "123457")
    assert one.code_hash(ph, "123456") != one.code_hash(one.phone_hash("+16502530000"), "123456")
    assert phone not in one.subject(phone)
    assert one.subject("ip:1.2.3.4") != two.subject("ip:1.2.3.4")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Keys(b"short")


def test_tokens_are_long_random_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 43 for token in tokens)
    token = next(iter(tokens))
    assert token_hash(token) == hashlib.sha256(token.encode()).digest()
    assert same_digest(token_hash(token), token_hash(token))
    assert not same_digest(token_hash(token), token_hash(token + "x"))
