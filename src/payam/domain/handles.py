"""Public channel handles (P5.1): what a handle may look like, and which ones nobody gets.

A handle is 5 to 32 ASCII letters, digits and underscores, starts with a letter, does not end
with an underscore and has no two underscores in a row. Handles are case-insensitive: the
lower-cased form is the key that must be unique (``chats.handle_key``); the spelling the owner
chose is kept for display. Only ASCII: letters of other scripts that look like Latin ones (a
Cyrillic a beside a Latin a) would let one channel pose as another.

Reserved handles are refused so that nobody can pose as the service or its staff: a list of
words, and anything that starts with "payam".
"""

from __future__ import annotations

import re

from payam.domain.errors import InvalidInput

MIN_LENGTH, MAX_LENGTH = 5, 32
# The shape of a handle, as the OpenAPI document states it (check_handle also refuses "__").
PATTERN = r"^(?!.*__)[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]$"
_SHAPE = re.compile(PATTERN, re.ASCII)

RESERVED_PREFIXES = ("payam",)
RESERVED = frozenset(
    {
        "about",
        "abuse",
        "account",
        "accounts",
        "admin",
        "administrator",
        "api",
        "app",
        "apps",
        "billing",
        "bot",
        "channel",
        "channels",
        "contact",
        "help",
        "helpdesk",
        "info",
        "login",
        "logout",
        "moderator",
        "moderators",
        "news",
        "null",
        "official",
        "owner",
        "privacy",
        "register",
        "root",
        "security",
        "server",
        "service",
        "settings",
        "signin",
        "signup",
        "staff",
        "status",
        "support",
        "system",
        "team",
        "undefined",
        "update",
        "updates",
        "verified",
        "webmaster",
        "www",
    }
)


def handle_key(handle: str) -> str:
    """The key a handle is unique and found by (its lower-cased form)."""
    return handle.lower()


def check_handle(handle: str) -> str:
    """The handle's key, or InvalidInput: ``invalid_handle`` for the wrong shape,
    ``handle_reserved`` for a reserved one."""
    if not isinstance(handle, str) or not _SHAPE.fullmatch(handle) or "__" in handle:
        raise InvalidInput(
            f"A handle is {MIN_LENGTH}-{MAX_LENGTH} letters (a-z), digits and underscores, "
            "starts with a letter, does not end with an underscore and has no '__'.",
            code="invalid_handle",
        )
    key = handle_key(handle)
    if key in RESERVED or key.startswith(RESERVED_PREFIXES):
        raise InvalidInput("This handle is reserved.", code="handle_reserved")
    return key
