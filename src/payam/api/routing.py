"""The HTTP API's routers, and how they join the app: flat, on the app's own router.

FastAPI 0.138 and later keep each ``include_router`` as a branch of a tree that every request
walks: a route in the seventh of seventeen routers is found only after the six before it were
matched twice each (once to find the branch, once more to handle it), with scope bookkeeping
per candidate. Measured in process on payam's 160 routes, an unmatched request cost 0.46 ms
of CPU, most of it routing (docs/benchmarks.md). A router made here carries what the app adds to
every door (the input guard, the documented error answers), so its routes can be put straight
on the app's router, in the same order, and matched as one list, as FastAPI did before 0.138.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from fastapi import APIRouter, Depends, FastAPI

from payam.api.errors import RESPONSES
from payam.api.input_guard import guard_input

# What the app itself declares for every door (create_app): the same, on each API router.
APP_DEPENDENCIES = [Depends(guard_input)]


def api_router(*, prefix: str = "/v1", tags: list[str | Enum]) -> APIRouter:
    """A router of the HTTP API whose routes carry the app's dependencies and error answers
    themselves, ready for ``add_flat``."""
    return APIRouter(prefix=prefix, tags=tags, dependencies=APP_DEPENDENCIES, responses=RESPONSES)


def add_flat(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Put the routes of routers made by ``api_router`` on the app's own router, in order (no
    branch per router). Only for those: a plain APIRouter's routes would miss the app's input
    guard, which FastAPI adds to a route only when the app includes its router."""
    for router in routers:
        if router.dependencies != APP_DEPENDENCIES:
            raise ValueError(f"{router.prefix} {router.tags}: not made by api_router")
        app.router.routes.extend(router.routes)
