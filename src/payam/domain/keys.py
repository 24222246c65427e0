"""Keyed hashes (HMAC-SHA256 with the server secret) and token hashing.

Phone numbers in uploaded contacts, sign-in codes and rate-limit subjects are stored only as
keyed hashes (P1.2, P2.2): a copy of the database alone does not give the numbers back, not
even by hashing the whole (small) number space, because the key is not in the database.
Bearer tokens are 256 random bits, so a plain SHA-256 is enough to store them safely.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata


class Keys:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the server secret must be at least 16 bytes")
        self._phone_key = hmac.new(secret, b"payam/phone", hashlib.sha256).digest()
        self._code_key = hmac.new(secret, b"payam/code", hashlib.sha256).digest()
        self._subject_key = hmac.new(secret, b"payam/limit-subject", hashlib.sha256).digest()
        self._view_key = hmac.new(secret, b"payam/view-salt", hashlib.sha256).digest()

    def phone_hash(self, e164: str) -> bytes:
        return hmac.new(self._phone_key, e164.encode(), hashlib.sha256).digest()

    def code_hash(self, phone_hash: bytes, code: str) -> bytes:
        return hmac.new(self._code_key, phone_hash + b":" + code.encode(), hashlib.sha256).digest()

    def subject(self, subject: str) -> str:
        return hmac.new(self._subject_key, subject.encode(), hashlib.sha256).hexdigest()[:40]

    def view_salt(self, stored: bytes) -> bytes:
        """The key of a day's view marks (P10.1) from the random salt stored for the day: a
        copy of the database alone cannot tell whether someone saw a post."""
        return hmac.new(self._view_key, stored, hashlib.sha256).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def parse_code(text: str, digits: int = 6) -> str | None:
    """The code in ASCII digits, or None if ``text`` is not ``digits`` decimal digits. Digits of
    any script count (a Persian keyboard types ۱۲۳), so a user is not refused for their keyboard.
    """
    if not isinstance(text, str) or len(text) != digits:
        return None
    values = [unicodedata.decimal(char, None) for char in text]
    if any(value is None for value in values):
        return None
    return "".join(str(value) for value in values)


def same_digest(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
