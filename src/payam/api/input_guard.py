"""Input no route should ever see: numbers beyond 64 bits, NUL characters, broken Unicode (P9.2).

One app-wide dependency, run before every route, so that no route has to remember:

- A path parameter declared ``int`` outside signed 64 bits answers 404 ``not_found``. Ids are
  BIGINT on PostgreSQL and INTEGER on SQLite; FastAPI parses ``/v1/users/99999999999999999999999``
  into a Python int without complaint and the driver then fails to bind it (a 500). Such an id
  can never exist, so it is simply not found, like any id that is not the caller's. The same
  number in an ``int`` query parameter or anywhere in a JSON body answers 422
  ``number_out_of_range``, and so does ``NaN`` or ``Infinity`` (Python's JSON reader accepts
  them; SQLite stores NaN as NULL).
- Text anywhere in the path, the query or a JSON body that holds a NUL character or a lone
  surrogate (JSON allows ``"\\ud800"``) answers 422 ``invalid_text``. PostgreSQL cannot store
  NUL in text, and neither database driver nor the JSON encoder of the answer can encode a
  lone surrogate: left alone, both become 500s deep inside a service.
"""

from __future__ import annotations

import json
import math
from typing import Any, get_args

from fastapi import Request, params
from pydantic import TypeAdapter, ValidationError
from starlette.requests import HTTPConnection

from payam.domain.errors import InvalidInput, NotFound

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# The same lax parsing FastAPI applies to an ``int`` parameter.
_as_int: TypeAdapter[int] = TypeAdapter(int)


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_text(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where}: text cannot contain NUL characters or invalid Unicode.", code="invalid_text"
    )


def _refuse_number(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where}: numbers must be finite and fit in 64 bits.", code="number_out_of_range"
    )


def _check_json(value: Any) -> None:
    """Refuse the first unusable text or number anywhere in a parsed JSON body."""
    stack: list[tuple[Any, str]] = [(value, "body")]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if _bad_text(item):
                raise _refuse_text(at)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise _refuse_number(at)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _refuse_number(at)
        elif isinstance(item, dict):
            for key, sub in item.items():
                if _bad_text(key):
                    raise _refuse_text(at)
                stack.append((sub, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{at}[{i}]") for i, sub in enumerate(item))


def _declares_int(param: Any) -> bool:
    annotation = param.field_info.annotation
    return annotation is int or int in get_args(annotation)


def _out_of_range(raw: Any) -> bool:
    """True for a value FastAPI would accept as an int but storage cannot hold."""
    try:
        value = _as_int.validate_python(raw)
    except ValidationError:
        return False  # not a number at all: FastAPI's own validation answers 422
    return not INT64_MIN <= value <= INT64_MAX


async def guard_input(request: HTTPConnection) -> None:
    for name, raw in request.path_params.items():
        if isinstance(raw, str) and _bad_text(raw):
            raise _refuse_text(name)
    for name, raw in request.query_params.multi_items():
        if _bad_text(name) or _bad_text(raw):
            raise _refuse_text("query")
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    for param in dependant.path_params:
        if _declares_int(param) and _out_of_range(request.path_params.get(param.alias)):
            raise NotFound("No such object.", code="not_found")
    for param in dependant.query_params:
        if _declares_int(param) and any(
            _out_of_range(raw) for raw in request.query_params.getlist(param.alias)
        ):
            raise _refuse_number(param.alias)
    # A form's stream is consumed by its parser (and its files are not text); JSON bodies are
    # cached by Starlette once FastAPI has read them, so reading again costs no I/O.
    if not isinstance(request, Request):  # a WebSocket: frames are checked by the gateway
        return
    if dependant.body_params and not any(
        isinstance(param.field_info, params.Form) for param in dependant.body_params
    ):
        body = await request.body()
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):
            return  # not JSON: FastAPI answers for the body it expected
        _check_json(parsed)
