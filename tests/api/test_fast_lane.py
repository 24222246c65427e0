"""The fast lane (api/fast_lane.py) answers its routes exactly as FastAPI does, and is used.

Every request here is sent twice: through the fast lane, and with it stepped aside (an app
with dependency overrides goes to FastAPI for everything), and the two answers must be the
same: status, body and the headers a client reads. The cases are the ones a client or an
attacker can send: no token, someone else's token for a chat they are not in, ids out of
range or not numbers, bad queries, bodies FastAPI refuses, text the input guard refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select

from payam.api.fast_lane import FAST, NotFast, _plan
from payam.api.responses import Answer
from payam.api.routing import APP_DEPENDENCIES
from payam.app import create_app
from payam.config import Settings
from payam.domain.cookies import CSRF_HEADER
from payam.storage.tables import access_log
from tests.conftest import Account, Harness

SARA = "+989120000001"
BITA = "+989121110001"
EVE = "+989121110009"


def _unused() -> None:  # a dependency no route has: overriding it only steps the lane aside
    return None


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI solved dependencies for (so: the requests the lane did not take)."""
    paths: list[str] = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        paths.append(kwargs["request"].url.path)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return paths


class Both:
    """Sends a request through the lane, then through FastAPI, and returns both answers."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.http = harness.client()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, ...]:
        app: FastAPI = self.harness.app
        answers = []
        for lane in (True, False):
            if not lane:
                app.dependency_overrides[_unused] = _unused
            try:
                answers.append(await self.http.request(method, url, **kwargs))
            finally:
                app.dependency_overrides.clear()
        return tuple(answers)

    async def same(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        fast, slow = await self.send(method, url, **kwargs)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content), (
            method,
            url,
            fast.text,
            slow.text,
        )
        for header in ("content-type", "content-length", "idempotent-replayed"):
            assert fast.headers.get(header) == slow.headers.get(header), header
        return fast


@pytest.fixture
async def people(harness: Harness) -> tuple[Account, Account, Account, int]:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    eve = await harness.sign_in(EVE, "Eve")
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Sara and Bita", "member_ids": [bita.user_id]},
        headers=sara.headers,
    )
    chat_id = response.json()["id"]
    for n in range(5):
        response = await harness.http.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": f"m{n}", "text": f"message {n}"},
            headers=bita.headers,
        )
        assert response.status_code == 201
    return sara, bita, eve, chat_id


def requests_to_compare(sara: Account, eve: Account, chat_id: int) -> Iterator[tuple[Any, ...]]:
    """(method, url, kwargs) of reads a client or an attacker may send."""
    messages = f"/v1/chats/{chat_id}/messages"
    for headers in (sara.headers, eve.headers, {}, {"Authorization": "Bearer nope"}):
        yield "GET", "/v1/me", {"headers": headers}
        yield "GET", "/v1/chats", {"headers": headers}
        yield "GET", messages, {"headers": headers}
    for query in (
        "limit=2",
        "limit=0",
        "limit=201",
        "limit=abc",
        "before=3",
        "after=1&limit=2",
        "before=-1",
        "before=99999999999999999999",
        "unknown=1",
        "limit=2&limit=3",
        "before=%00",
    ):
        yield "GET", f"{messages}?{query}", {"headers": sara.headers}
    yield "GET", "/v1/chats?limit=1", {"headers": sara.headers}
    yield "GET", "/v1/chats?limit=501", {"headers": sara.headers}
    yield "GET", "/v1/me?x=1", {"headers": sara.headers}
    for chat in ("999999", "99999999999999999999", "abc", "-1", "1.5", "%00"):
        yield "GET", f"/v1/chats/{chat}/messages", {"headers": sara.headers}
        yield (
            "POST",
            f"/v1/chats/{chat}/messages",
            {
                "headers": sara.headers,
                "json": {"client_id": "x", "text": "hi"},
            },
        )
    for query in (
        "",
        "after=0",
        "after=3&limit=2",
        "after=-1",
        "after=99999",
        "limit=0",
        "timeout=61",
    ):
        yield "GET", f"/v1/updates?{query}", {"headers": sara.headers}
    yield "GET", "/v1/updates", {"headers": eve.headers}
    for body in ({"seq": 2}, {"seq": 99}, {"seq": -1}, {"seq": "x"}, {}, {"seq": 2**64}):
        yield "POST", f"/v1/chats/{chat_id}/read", {"headers": sara.headers, "json": body}
        yield "POST", f"/v1/chats/{chat_id}/read", {"headers": eve.headers, "json": body}
    for query in ("q=message", "q=message&limit=2", "q=nothing", "", "q=", "limit=0&q=x"):
        yield "GET", f"/v1/search?{query}", {"headers": sara.headers}
    yield "GET", "/v1/search?q=message", {"headers": eve.headers}
    yield "GET", "/v1/search?q=" + "x" * 1000, {"headers": sara.headers}
    yield "HEAD", "/v1/me", {"headers": sara.headers}
    yield "GET", "/v1/me/", {"headers": sara.headers}


def bodies_to_compare() -> Iterator[dict[str, Any]]:
    """Send bodies FastAPI or the input guard refuses, each as the request's kwargs."""
    yield {"json": {"text": "no client id"}}
    yield {"json": {"client_id": "b1"}}
    yield {"json": {"client_id": "b2", "text": "a\u0000b"}}
    yield {"json": {"client_id": "b3", "text": "hi", "reply_to": 2**64}}
    yield {"json": {"client_id": "b4", "text": "hi", "surprise": True}}
    yield {"json": ["not", "an", "object"]}
    yield {"json": None}
    yield {"content": b"{not json", "headers": {"content-type": "application/json"}}
    yield {
        "content": b'{"client_id": "b5", "text": "hi"}',
        "headers": {"content-type": "text/plain"},
    }
    yield {
        "content": b'{"client_id": "b6", "text": "\\ud800"}',
        "headers": {"content-type": "application/json"},
    }
    yield {"content": b"[" * 5000 + b"]" * 5000, "headers": {"content-type": "application/json"}}
    yield {
        "content": b'{"client_id": "b7", "text": NaN}',
        "headers": {"content-type": "application/json"},
    }
    yield {"json": {"client_id": "b8", "text": "x" * 100_000}}


async def test_reads_answer_as_fastapi_does(
    harness: Harness, people: tuple[Account, Account, Account, int]
) -> None:
    sara, _bita, eve, chat_id = people
    both = Both(harness)
    for method, url, kwargs in requests_to_compare(sara, eve, chat_id):
        await both.same(method, url, **kwargs)


async def test_refused_sends_answer_as_fastapi_does_and_store_nothing(
    harness: Harness, people: tuple[Account, Account, Account, int]
) -> None:
    sara, _bita, eve, chat_id = people
    both = Both(harness)
    url = f"/v1/chats/{chat_id}/messages"
    for kwargs in bodies_to_compare():
        headers = {**sara.headers, **kwargs.pop("headers", {})}
        await both.same("POST", url, headers=headers, **kwargs)
    # Someone not in the chat, and no one at all.
    for headers in (eve.headers, {}):
        await both.same("POST", url, headers=headers, json={"client_id": "e1", "text": "hi"})
    history = await both.same("GET", url, headers=sara.headers)
    assert [m["text"] for m in history.json()["messages"]] == [f"message {n}" for n in range(5)]


async def test_a_send_and_its_retry_answer_as_fastapi_does(
    harness: Harness, people: tuple[Account, Account, Account, int]
) -> None:
    """The first send goes through the lane, its retry through FastAPI and back: the same
    stored message each time, the retries marked replayed."""
    sara, _bita, _eve, chat_id = people
    both = Both(harness)
    url = f"/v1/chats/{chat_id}/messages"
    body = {"client_id": "same", "text": "once"}
    first, retried = await both.send("POST", url, headers=sara.headers, json=body)
    assert first.status_code == retried.status_code == 201
    assert first.json() == retried.json()
    assert "idempotent-replayed" not in first.headers
    assert retried.headers["idempotent-replayed"] == "true"
    await both.same("POST", url, headers=sara.headers, json=body)
    await both.same("POST", url, headers=sara.headers, json={"client_id": "same", "text": "other"})


async def test_the_web_session_cookie_works_and_its_writes_need_the_csrf_header(
    harness: Harness, people: tuple[Account, Account, Account, int]
) -> None:
    """P6.1 through the lane: a cookie session reads; a write without the CSRF header is
    refused, with it accepted, as through FastAPI."""
    _sara, bita, _eve, chat_id = people
    both = Both(harness)
    code = await both.http.post("/v1/auth/code", json={"phone": BITA})
    assert code.status_code == 202
    response = await both.http.post(
        "/v1/auth/session",
        json={
            "phone": BITA,
            "code": harness.last_code(BITA),
            "device": {"model": "Firefox", "os": "Linux", "app_version": "web"},
            "cookie": True,
        },
    )
    assert response.status_code == 201, response.text
    csrf = response.json()["csrf_token"]
    url = f"/v1/chats/{chat_id}/messages"
    me = await both.same("GET", "/v1/me")
    assert me.json()["id"] == bita.user_id
    refused = await both.same("POST", url, json={"client_id": "c1", "text": "hi"})
    assert refused.status_code == 403
    fast, slow = await both.send(
        "POST", url, json={"client_id": "c2", "text": "hi"}, headers={CSRF_HEADER: csrf}
    )
    assert (fast.status_code, slow.status_code) == (201, 201)
    assert fast.json() == slow.json()


async def test_the_lane_takes_its_routes_and_leaves_the_rest(
    harness: Harness, people: tuple[Account, Account, Account, int], solved: list[str]
) -> None:
    """The point of the lane: its routes skip FastAPI's dependency solving (docs/benchmarks.md).
    What it passes on (a refused body, another route) FastAPI still solves."""
    sara, _bita, _eve, chat_id = people
    http = harness.client()
    url = f"/v1/chats/{chat_id}/messages"
    for response in (
        await http.get("/v1/me", headers=sara.headers),
        await http.get("/v1/chats", headers=sara.headers),
        await http.get(url, params={"limit": 2}, headers=sara.headers),
        await http.post(url, json={"client_id": "f1", "text": "fast"}, headers=sara.headers),
        await http.post(f"/v1/chats/{chat_id}/read", json={"seq": 1}, headers=sara.headers),
        await http.get("/v1/updates", params={"after": 0}, headers=sara.headers),
        await http.get("/v1/search", params={"q": "message"}, headers=sara.headers),
    ):
        assert response.status_code in (200, 201), response.text
    assert solved == []
    await http.post(url, json={"text": "no client id"}, headers=sara.headers)
    await http.get(f"/v1/chats/{chat_id}", headers=sara.headers)
    assert solved == [url, f"/v1/chats/{chat_id}"]


async def test_a_fast_request_is_in_the_access_log_with_its_route_and_user(
    harness: Harness, people: tuple[Account, Account, Account, int]
) -> None:
    """P4.2: the access log records the route's template and the caller, as for any route."""
    sara, _bita, _eve, chat_id = people
    await harness.services.access_log.flush()
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=sara.headers)
    assert response.status_code == 200
    await harness.services.access_log.flush()
    async with harness.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(access_log.c.route, access_log.c.user_id, access_log.c.status)
                .order_by(access_log.c.id.desc())
                .limit(1)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("/v1/chats/{chat_id}/messages", sara.user_id, 200)]


def test_every_fast_route_is_planned_from_the_app() -> None:
    """The app builds: each route named in FAST exists and has a shape the lane can run."""
    app = create_app(Settings(secret_key="k" * 48), background_jobs=False)
    planned = [(p.method, p.route.path) for p in (_plan(app, m, path) for m, path in FAST)]
    assert planned == list(FAST)


def test_a_route_the_lane_cannot_run_the_same_is_refused_when_the_app_is_built() -> None:
    async def answer_it() -> Answer:
        return Answer({})

    async def unknown() -> int:
        return 1

    app = FastAPI(dependencies=APP_DEPENDENCIES)
    app.get("/v1/a/{x}")(answer_it)
    app.get("/v1/b")(answer_it)
    app.get("/v1/c", dependencies=[Depends(unknown)])(answer_it)

    async def model_answer() -> dict[str, int]:
        return {}

    app.get("/v1/d")(model_answer)
    _plan(app, "GET", "/v1/b")
    with pytest.raises(NotFast, match="not known"):
        _plan(app, "GET", "/v1/c")
    with pytest.raises(NotFast, match="Response"):
        _plan(app, "GET", "/v1/d")
    with pytest.raises(NotFast, match="no such route"):
        _plan(app, "POST", "/v1/b")
    # A route before it that may take the same paths: FastAPI would pick that one.
    app.get("/v1/a/b")(answer_it)
    with pytest.raises(NotFast, match="before it"):
        _plan(app, "GET", "/v1/a/b")
