"""Input no route should ever see: ids beyond 64 bits, NUL characters, broken Unicode (P9.2).

One app-wide dependency, run before every route, so that no route has to remember:

- A path parameter declared ``int`` outside signed 64 bits answers 404 ``not_found``. Ids are
  BIGINT on PostgreSQL and INTEGER on SQLite; FastAPI parses ``/v1/users/99999999999999999999999``
  into a Python int without complaint and the driver then fails to bind it (a 500). Such an id
  can never exist, so it is simply not found, like any id that is not the caller's.
- Text anywhere in the path, the query or a JSON body that holds a NUL character or a lone
  surrogate (JSON allows ``"\\ud800"``) answers 422 ``invalid_text``. PostgreSQL cannot store
  NUL in text, and neither database driver nor the JSON encoder of the answer can encode a
  lone surrogate: left alone, both become 500s deep inside a service.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, params
from pydantic import TypeAdapter, ValidationError

from payam.domain.errors import InvalidInput, NotFound

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# The same lax parsing FastAPI applies to an ``int`` path parameter.
_as_int: TypeAdapter[int] = TypeAdapter(int)


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_text_in(value: Any, where: str) -> str | None:
    """Where in a JSON value the first unusable text is (None when all of it is fine)."""
    stack = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if _bad_text(item):
                return at
        elif isinstance(item, dict):
            for key, sub in item.items():
                if _bad_text(key):
                    return at
                stack.append((sub, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{at}[{i}]") for i, sub in enumerate(item))
    return None


def _refuse_text(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where}: text cannot contain NUL characters or invalid Unicode.", code="invalid_text"
    )


async def guard_input(request: Request) -> None:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    for name, raw in request.path_params.items():
        if isinstance(raw, str) and _bad_text(raw):
            raise _refuse_text(name)
    for name, raw in request.query_params.multi_items():
        if _bad_text(name) or _bad_text(raw):
            raise _refuse_text("query")
    if dependant is None:
        return
    for param in dependant.path_params:
        if param.field_info.annotation is not int:
            continue
        try:
            value = _as_int.validate_python(request.path_params.get(param.alias))
        except ValidationError:
            continue  # not a number at all: FastAPI's own validation answers 422
        if not INT64_MIN <= value <= INT64_MAX:
            raise NotFound("No such object.", code="not_found")
    # A form's stream is consumed by its parser (and its files are not text); JSON bodies are
    # cached by Starlette once FastAPI has read them, so reading again costs no I/O.
    if dependant.body_params and not any(
        isinstance(param.field_info, params.Form) for param in dependant.body_params
    ):
        body = await request.body()
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):
            return  # not JSON: FastAPI answers for the body it expected
        where = _bad_text_in(parsed, "body")
        if where is not None:
            raise _refuse_text(where)
