"""Cookie categories (P6): the user's choices, and the preferences cookie that depends on one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from pydantic import Field

from payam.api import cookies
from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, ConsentsOut, PreferencesOut
from payam.api.routing import api_router
from payam.api.schemas import Strict
from payam.domain import cookies as categories

router = api_router(tags=["consents"])


class ConsentsIn(Strict):
    preferences: bool | None = Field(default=None, description="remember interface choices")
    statistics: bool | None = Field(default=None, description="count feature use, anonymously")


class PreferencesIn(Strict):
    theme: Literal["light", "dark", "system"] | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")


@router.get("/me/consents", response_model=ConsentsOut, **EXACT)
async def get_consents(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Each cookie category (purpose, cookies, features, the caller's choice) and which
    features are on and off. Optional categories are off until granted (P6.1, P6.2)."""
    return (await services.consents.get(caller)).to_json()


@router.put("/me/consents", response_model=ConsentsOut, **EXACT)
async def set_consents(
    body: ConsentsIn, request: Request, response: Response, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Grant or refuse the optional categories; omitted ones keep their choice. Refusing
    ``preferences`` also removes the preferences cookie from the browser."""
    choices = {k: v for k, v in body.model_dump().items() if v is not None}
    state = await services.consents.set(caller, choices)
    if not state.allows(categories.PREFERENCES.name) and categories.PREFS_COOKIE in request.cookies:
        cookies.clear_preferences(response, request)
    return state.to_json()


@router.put("/me/preferences", response_model=PreferencesOut, **EXACT)
async def set_preferences(
    body: PreferencesIn,
    request: Request,
    response: Response,
    caller: CallerDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Interface preferences for the web client, kept only in the browser's ``payam_prefs``
    cookie, and set only while the caller allows the ``preferences`` category (the server
    stores nothing). The answer says whether the cookie was set."""
    prefs = body.model_dump(exclude_none=True)
    allowed = (await services.consents.get(caller)).allows(categories.PREFERENCES.name)
    if allowed:
        # "theme:dark|language:fa": only characters a cookie carries unquoted.
        cookies.set_preferences(response, request, "|".join(f"{k}:{v}" for k, v in prefs.items()))
    return {
        "preferences": prefs,
        "cookie_set": allowed,
        "reason": None if allowed else "the preferences category is refused",
    }
