"""The hottest routes, run without FastAPI's per-request machinery, to the same answers.

Measured in process on this machine (docs/benchmarks.md): FastAPI 0.165 spends about 145 µs
on a route with no dependency at all that answers ``1`` (Starlette alone, 26 µs), and each
dependency adds 30-50 µs, recomputing per request what it could know per route (cache keys,
scopes, whether a callable is a generator). A signed-in read of payam has four: the input
guard, the caller, its bearer token, the services. That is about half of ``GET /v1/me``.

``FastLane`` is the innermost of the app's middlewares. For the routes named in ``FAST`` (what
a client does all day: its profile, the chat list, history, sending, read markers, catching
up, search),
and only when the request is one FastAPI would accept, it does what FastAPI does, with
FastAPI's own parts: the route's path, query and body parameters are validated by FastAPI's
``request_params_to_args`` and ``request_body_to_args`` on the route's own ``Dependant``; the
dependencies (the input guard, the caller, the services, the client's address) are the same
functions, called in the same order; the endpoint is the route's own function, and errors
go to the app's own exception handlers. Anything else goes on to FastAPI untouched (a body
it read is handed on again): a parameter or body FastAPI would refuse (so the error answer
is FastAPI's, word for word), a body that is not plain JSON with a length, a method or path
it does not serve, an app with dependency overrides. ``/openapi.json`` is FastAPI's, from
the same routes.

What may be fast is checked when the app is built, so that a route that changes shape
stops being fast rather than answering differently: only the dependencies above, no
header, cookie or form parameters, an endpoint that answers a ``Response`` itself, and no
route before it in the app that could match the same path.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payam.api import deps
from payam.api.input_guard import guard_input

# The routes run here: (method, path template), as the routes declare them.
FAST: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/me"),
    ("GET", "/v1/chats"),
    ("GET", "/v1/chats/{chat_id}/messages"),
    ("POST", "/v1/chats/{chat_id}/messages"),
    ("POST", "/v1/chats/{chat_id}/read"),
    ("GET", "/v1/updates"),
    ("GET", "/v1/search"),
)


async def _caller(request: Request) -> Any:
    return await deps.caller(request, await deps.bearer(request))


async def _services(request: Request) -> Any:
    return await deps.services(request)


async def _client_ip(request: Request) -> Any:
    return await deps.client_ip(request)


# The dependencies a fast route may have, each as FastAPI would call it for this request.
_DEPENDENCIES: dict[Any, Callable[[Request], Awaitable[Any]]] = {
    guard_input: guard_input,
    deps.caller: _caller,
    deps.services: _services,
    deps.client_ip: _client_ip,
}


@dataclass(frozen=True)
class _Fast:
    method: str
    route: APIRoute
    dependant: Dependant
    steps: tuple[tuple[str | None, Callable[[Request], Awaitable[Any]]], ...]


class NotFast(Exception):
    """A route named in FAST that cannot be run here (raised when the app is built)."""


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _may_overlap(template: str, route: BaseRoute, method: str) -> bool:
    """Could ``route`` match a path of ``template`` with ``method``? Yes when unsure."""
    if isinstance(route, WebSocketRoute):
        return False
    if isinstance(route, Mount):
        return template == route.path or template.startswith(route.path.rstrip("/") + "/")
    methods = getattr(route, "methods", None)
    if methods is not None and method not in methods:
        return False
    other = getattr(route, "path", None)
    if not isinstance(other, str) or ":path}" in other:
        return True
    mine, theirs = _segments(template), _segments(other)
    if len(mine) != len(theirs):
        return False
    return all(
        a == b or a.startswith("{") or b.startswith("{") for a, b in zip(mine, theirs, strict=True)
    )


def _plan(app: FastAPI, method: str, path: str) -> _Fast:
    routes = app.router.routes
    index = next(
        (
            i
            for i, r in enumerate(routes)
            if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
        ),
        None,
    )
    if index is None:
        raise NotFast(f"{method} {path}: no such route")
    route = routes[index]
    assert isinstance(route, APIRoute)
    earlier = [r for r in routes[:index] if _may_overlap(path, r, method)]
    if earlier:
        raise NotFast(f"{method} {path}: routes before it may match its paths: {earlier}")
    dependant = route.dependant
    if not inspect.iscoroutinefunction(route.endpoint):
        raise NotFast(f"{method} {path}: the endpoint is not a coroutine function")
    if route.endpoint.__annotations__.get("return") not in ("Answer", "Response"):
        raise NotFast(f"{method} {path}: the endpoint must answer a Response itself")
    if (
        dependant.header_params
        or dependant.cookie_params
        or dependant.request_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or len(dependant.body_params) > 1
    ):
        raise NotFast(f"{method} {path}: a parameter the fast lane does not fill")
    steps = []
    for sub in dependant.dependencies:
        call = _DEPENDENCIES.get(sub.call)
        if call is None:
            raise NotFast(f"{method} {path}: the dependency {sub.call!r} is not known here")
        steps.append((sub.name, call))
    return _Fast(method, route, dependant, tuple(steps))


class FastLane:
    """Pure ASGI, the innermost of the app's middlewares (create_app adds it first)."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.fast = tuple(_plan(owner, method, path) for method, path in FAST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.owner.dependency_overrides:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        for fast in self.fast:
            if fast.method == method:
                match = fast.route.path_regex.match(path)
                if match is not None:
                    break
        else:
            await self.app(scope, receive, send)
            return
        route = fast.route
        scope["endpoint"] = route.endpoint
        scope["route"] = route
        scope["path_params"] = {
            name: route.param_convertors[name].convert(value)
            for name, value in match.groupdict().items()
        }
        request = Request(scope, receive)
        response: Response | None = None
        try:
            values = await self._values(fast, request)
            if values is not None:
                response = await route.endpoint(**values)
        except Exception as exc:
            response = await self._handled(request, exc)
        if response is None:  # FastAPI answers this one, from the start
            body: bytes | None = getattr(request, "_body", None)
            await self.app(scope, _replaying(body, receive) if body is not None else receive, send)
            return
        await response(scope, receive, send)

    async def _values(self, fast: _Fast, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when FastAPI should answer instead."""
        dependant = fast.dependant
        values, errors = request_params_to_args(dependant.path_params, request.path_params)
        if errors:
            return None
        if dependant.query_params:
            query, errors = request_params_to_args(dependant.query_params, request.query_params)
            if errors:
                return None
            values.update(query)
        elif request.scope["query_string"]:
            return None
        if dependant.body_params:
            body = await self._body(fast, request)
            if body is None:
                return None
            values.update(body)
        for name, call in fast.steps:
            solved = await call(request)
            if name is not None:
                values[name] = solved
        return values

    async def _body(self, fast: _Fast, request: Request) -> dict[str, Any] | None:
        """The body parameter, when the body is JSON FastAPI would accept; else None."""
        headers = request.headers
        if headers.get("content-type") != "application/json" or not headers.get("content-length"):
            return None
        try:
            raw = await request.body()
        except Exception as exc:  # as FastAPI: a body that could not be read
            raise HTTPException(400, "There was an error parsing the body") from exc
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):  # FastAPI answers for a body it cannot read
            return None
        found, errors = await request_body_to_args(
            fast.dependant.body_params, parsed, fast.route._embed_body_fields
        )
        return None if errors else found

    async def _handled(self, request: Request, exc: Exception) -> Response:
        """The answer the app's exception handlers give ``exc``, as FastAPI's exception
        middleware would; what only the server-error handler takes goes on up to it."""
        handlers = self.owner.exception_handlers
        for kind in type(exc).__mro__:
            if kind is Exception:
                break
            handler = handlers.get(kind)
            if handler is not None:
                # The app's handlers are all coroutines (api/errors.py).
                answered = handler(request, exc)
                return await answered if inspect.isawaitable(answered) else answered
        raise exc


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read handed over first, for FastAPI to read again."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
