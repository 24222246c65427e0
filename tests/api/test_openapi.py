"""The OpenAPI document is generated from the code and complete; errors have one shape.

Every route the app serves must be in ``/openapi.json`` with its methods, and every operation
must say what it does (a docstring or an explicit summary), so a route cannot be added
undocumented. The document must also tell the truth about error bodies: payam answers
``{"error": {"code", "message"}}``, never FastAPI's ``{"detail": ...}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
from fastapi.routing import APIRoute, APIWebSocketRoute

from payam.domain import handles, limits
from tests.conftest import Harness

DOC_PATHS = {"/openapi.json", "/docs", "/docs/assets"}
REALTIME_DOC = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def served_routes(app: Any) -> list[tuple[str, Any]]:
    """(path, route) for every route the app serves, with the prefixes of included routers."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:  # FastAPI before routers were included lazily: already flat
        return [(route.path, route) for route in app.routes]
    return [(context.path, context.original_route) for context in iter_contexts(app.routes)]


def served_operations(app: Any) -> set[tuple[str, str]]:
    found = set()
    for path, route in served_routes(app):
        if path in DOC_PATHS:
            continue
        if isinstance(route, APIWebSocketRoute):
            # OpenAPI cannot describe a WebSocket; docs/realtime.md does (tested below).
            continue
        assert isinstance(route, APIRoute), f"{path} is not an API route: {route!r}"
        assert route.include_in_schema, f"{path} is hidden from the OpenAPI document"
        for method in route.methods:
            found.add((method.lower(), path))
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


async def test_openapi_lists_every_route_and_method(harness: Harness) -> None:
    response = await harness.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    served = served_operations(harness.app)
    assert served, "the app serves no routes?"
    assert ("get", "/health") in served
    assert ("post", "/v1/auth/code") in served
    missing = served - documented_operations(document)
    assert not missing, f"served but not in /openapi.json: {sorted(missing)}"
    phantom = documented_operations(document) - served
    assert not phantom, f"in /openapi.json but not served: {sorted(phantom)}"


async def test_every_operation_says_what_it_does(harness: Harness) -> None:
    """A hand-written docstring or summary: FastAPI's summary made from the function name
    ("Get Me") does not count."""
    undocumented = []
    for path, route in served_routes(harness.app):
        if path in DOC_PATHS or isinstance(route, APIWebSocketRoute):
            continue
        described = bool((route.description or "").strip()) or bool(route.summary)
        if not described:
            undocumented.append(f"{sorted(route.methods)} {path} ({route.endpoint.__name__})")
    assert not undocumented, "operations without a docstring or summary:\n" + "\n".join(
        undocumented
    )
    document = harness.app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary") or operation.get("description"), (method, path)
            assert operation.get("tags"), f"{method} {path} has no tag"


async def test_openapi_describes_error_bodies_as_payam_sends_them(harness: Harness) -> None:
    document = harness.app.openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas, "the document advertises {'detail': [...]}"
    assert set(schemas["ErrorResponse"]["required"]) == {"error"}
    detail = schemas["ErrorDetail"]
    assert {"code", "message"} <= set(detail["required"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            error = operation["responses"].get("4XX")
            assert error, f"{method} {path} does not document its error body"
            ref = error["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (method, path, ref)


async def test_secured_operations_declare_the_bearer_scheme(harness: Harness) -> None:
    document = harness.app.openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    secured = [
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]
    assert ("get", "/v1/me") in secured
    assert ("post", "/v1/auth/code") not in secured


async def test_docs_page_is_served_as_html(harness: Harness) -> None:
    response = await harness.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


async def test_docs_page_loads_nothing_from_another_host(harness: Harness) -> None:
    """Offline, /docs still works, and no third party learns who reads the API docs: every
    script, stylesheet and icon comes from the package; Swagger UI's online validator is off."""
    html = (await harness.http.get("/docs")).text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+", html), "an external host in /docs"
    assert re.search(r"validatorUrl\W+null", html), "Swagger UI would call its online validator"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3, assets
    for asset in assets:
        answer = await harness.http.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content, asset
    assert (await harness.http.get("/redoc")).status_code == 404, "ReDoc only exists on a CDN"


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


async def test_error_answers_have_one_shape(harness: Harness) -> None:
    http = harness.http
    assert_error_shape(await http.get("/no/such/route"), 404, "not_found")
    assert_error_shape(await http.put("/health"), 405, "method_not_allowed")
    assert_error_shape(await http.get("/v1/me"), 401, "missing_token")
    assert_error_shape(
        await http.get("/v1/me", headers={"Authorization": "Bearer nope"}), 401, "invalid_token"
    )
    assert_error_shape(
        await http.post(
            "/v1/auth/code", content=b"{", headers={"content-type": "application/json"}
        ),
        422,
        "invalid_request",
    )
    assert_error_shape(await http.post("/v1/auth/code", json={}), 422, "invalid_request")
    assert_error_shape(await http.post("/v1/auth/code", json={"phone": "12"}), 422)


async def test_validation_errors_name_the_field(harness: Harness) -> None:
    response = await harness.http.post("/v1/auth/code", json={"phone": 5})
    error = response.json()["error"]
    assert response.status_code == 422
    assert error["message"].startswith("phone:")
    assert error["details"][0]["loc"] == ["body", "phone"]


async def test_a_bug_answers_500_in_the_same_shape_without_details(harness: Harness) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    harness.app.add_api_route("/test-only/boom", boom)
    transport = httpx.ASGITransport(app=harness.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://payam.test") as client:
        response = await client.get("/test-only/boom")
    assert_error_shape(response, 500, "internal_error")
    assert "secret internals" not in response.text


def test_every_websocket_route_is_described_in_docs_realtime(harness: Harness) -> None:
    text = REALTIME_DOC.read_text()
    sockets = [
        path for path, route in served_routes(harness.app) if isinstance(route, APIWebSocketRoute)
    ]
    assert sockets, "the app serves no WebSocket"
    for path in sockets:
        assert f"`{path}`" in text, f"{path} is not described in docs/realtime.md"


async def test_the_websocket_is_in_the_document_and_plain_http_is_told_to_upgrade(
    harness: Harness,
) -> None:
    operation = harness.app.openapi()["paths"]["/v1/ws"]["get"]
    assert operation["x-websocket"] is True
    assert {"4401", "4008", "1011"} <= set(operation["x-websocket-close-codes"])
    assert "101" in operation["responses"]
    assert "token" in {p["name"] for p in operation["parameters"]}
    response = await harness.http.get("/v1/ws")
    assert_error_shape(response, 426, "upgrade_required")
    assert response.headers["upgrade"] == "websocket"


API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PUBLIC_LINE = re.compile(r"Every `/v1` route except (.+?) needs it", re.DOTALL)


async def test_docs_name_exactly_the_v1_routes_that_need_no_token(harness: Harness) -> None:
    """docs/api.md says which /v1 routes answer without a token; the document's security
    says the same, and so do the routes (the data map is public, like a privacy policy)."""
    text = API_DOC.read_text()
    found = PUBLIC_LINE.search(text)
    assert found, "docs/api.md no longer says which routes need no token"
    named = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /v1/[^`]+)`", found.group(1)))
    public = {
        f"{method.upper()} {path}"
        for path, item in harness.app.openapi()["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/") and not operation.get("security")
    }
    assert named == public
    response = await harness.http.get("/v1/privacy/map")
    assert response.status_code == 200
    assert response.json()["fields"]


def _open_object(schema: dict[str, Any]) -> bool:
    """A schema that says nothing of the answer: any object (``dict[str, Any]``), or nothing."""
    if not schema:
        return True
    return (
        schema.get("type") == "object" and not schema.get("properties") and not schema.get("$ref")
    )


async def test_every_operation_declares_the_schema_of_its_answers(harness: Harness) -> None:
    """A route that answers a body says what it is: a named model, or a file of named types;
    ``dict[str, Any]`` does not count. 101, 204 and 304 answer no body."""
    vague = []
    for path, item in harness.app.openapi()["paths"].items():
        for method, operation in item.items():
            successes = {
                code: answer
                for code, answer in operation["responses"].items()
                if code.startswith("2") or code == "101"
            }
            assert successes, f"{method} {path} declares no success answer"
            for code, answer in successes.items():
                content = answer.get("content", {})
                if code in {"101", "204"}:
                    assert not content, f"{method} {path} {code} has a body?"
                    continue
                if not content or any(_open_object(c.get("schema", {})) for c in content.values()):
                    vague.append(f"{method.upper()} {path} {code}")
    assert not vague, "answers without a schema:\n" + "\n".join(vague)


async def test_files_are_declared_with_their_real_media_types(harness: Harness) -> None:
    paths = harness.app.openapi()["paths"]
    media = paths["/v1/media/{media_id}"]["get"]["responses"]["200"]["content"]
    assert "image/webp" in media, "images are served as WebP"
    assert media["image/webp"]["schema"] == {"type": "string", "format": "binary"}
    thumbnail = paths["/v1/media/{media_id}/thumbnail"]["get"]["responses"]["200"]["content"]
    assert set(thumbnail) == {"image/webp"}
    export = paths["/v1/me/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/zip"}


async def test_the_schema_states_the_limits_the_server_enforces(make_harness: Any) -> None:
    """The text limit is the server's (4096, or the operator's value), not a parsing cap, and
    client_id carries the pattern the service checks."""
    harness = await make_harness(message_max_length=1000)
    schemas = harness.app.openapi()["components"]["schemas"]
    message = schemas["MessageIn"]["properties"]
    assert message["text"]["maxLength"] == 1000
    assert message["client_id"]["pattern"] == limits.CLIENT_ID_PATTERN
    assert schemas["EditIn"]["properties"]["text"]["maxLength"] == 1000
    channel = schemas["ChannelChatIn"]["properties"]
    assert channel["description"]["maxLength"] == limits.CHANNEL_DESCRIPTION_MAX_LENGTH
    assert channel["handle"]["maxLength"] == handles.MAX_LENGTH
    alice = await harness.sign_in("+989121234567", "Alice")
    chat = await harness.http.post(
        "/v1/chats", json={"type": "group", "title": "g"}, headers=alice.headers
    )
    too_long = await harness.http.post(
        f"/v1/chats/{chat.json()['id']}/messages",
        json={"client_id": "c1", "text": "x" * 1001},
        headers=alice.headers,
    )
    assert_error_shape(too_long, 422, "message_too_long")
