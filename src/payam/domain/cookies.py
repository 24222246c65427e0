"""Cookie categories of the web client, declared in one place (P6.1, P6.2).

Each category says what it is for, which cookies it sets and which features depend on it.
``essential`` cannot be refused: without it there is no web session. The optional categories
are off until the user grants them (``PUT /v1/me/consents``); while one is refused the server
never sets its cookies and the features listed here are off.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SESSION_COOKIE = "payam_session"
CSRF_COOKIE = "payam_csrf"
PREFS_COOKIE = "payam_prefs"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class CookieCategory:
    name: str
    purpose: str
    optional: bool
    cookies: tuple[str, ...]
    features: tuple[str, ...]


ESSENTIAL = CookieCategory(
    name="essential",
    purpose="Keeps a web browser signed in (HttpOnly session cookie) and protects its writes "
    "against cross-site request forgery (CSRF token cookie).",
    optional=False,
    cookies=(SESSION_COOKIE, CSRF_COOKIE),
    features=("web_session",),
)
PREFERENCES = CookieCategory(
    name="preferences",
    purpose="Remembers interface choices (theme, language) in the browser.",
    optional=True,
    cookies=(PREFS_COOKIE,),
    features=("remembered_preferences",),
)
STATISTICS = CookieCategory(
    name="statistics",
    purpose="Counts how often each feature is used per day, without recording who used it.",
    optional=True,
    cookies=(),
    features=("usage_statistics",),
)

CATEGORIES: tuple[CookieCategory, ...] = (ESSENTIAL, PREFERENCES, STATISTICS)
OPTIONAL: tuple[str, ...] = tuple(c.name for c in CATEGORIES if c.optional)


def features(granted: dict[str, bool]) -> dict[str, bool]:
    """Every feature of every category, on or off for these choices (refused when absent)."""
    return {
        feature: (not category.optional) or granted.get(category.name, False)
        for category in CATEGORIES
        for feature in category.features
    }


def csrf_token(session_token: str) -> str:
    """The CSRF token bound to a web session: derivable only by whoever holds the session
    token (which the browser keeps HttpOnly), so a forged or tossed CSRF cookie is refused."""
    return hashlib.sha256(b"payam-csrf:" + session_token.encode()).hexdigest()
