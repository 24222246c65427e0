"""P9.2: the server never answers 500 to a client's mistake, and every error has one shape.

The batteries below are not written per route: they walk the OpenAPI document (which
``test_openapi`` proves lists every route of the app) and send each operation bad credentials,
bad path ids, bodies that are not JSON or JSON of the wrong shape, fields of the wrong type,
hostile strings inside otherwise valid requests, broken uploads, and (with hypothesis) arbitrary
JSON. A route added tomorrow is covered without touching this file. Every answer must be below
500 and, when it is an error, ``{"error": {"code": <stable code>, "message": <text>}}``.

Rate limits are switched off in most batteries so that requests get past the limiter into the
code that parses, stores and answers (a 429 would prove nothing about that code).
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import DEVICE, Account, Harness

STABLE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
DOC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

INT64_MAX = 2**63 - 1
BAD_PATH_IDS = [
    "abc",
    "1.5",
    "1e3",
    "0x10",
    "-1",
    "0",
    str(INT64_MAX),
    str(INT64_MAX + 1),
    str(-(2**63) - 1),
    "99999999999999999999999",
    "-99999999999999999999999",
    "9" * 5000,
    "%00",
    "%20",
    "1%00",
    "%E2%80%AE1",
    "%F0%9F%98%80",
    "%FF",
    "1_000",
    "+999999",
    "null",
]

# Raw bodies sent with ``Content-Type: application/json`` to every JSON operation.
BAD_JSON_BODIES: list[bytes] = [
    b"",
    b"{",
    b"not json",
    b"[]",
    b"[{}]",
    b"123",
    b"-1.5e999",
    b'"a string"',
    b"null",
    b"true",
    b'{"unexpected": 1}',
    b"{'single': 'quotes'}",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"a": 1' + b"0" * 5000 + b"}",
    b"\xff\xfe\x00{",
    b"\xef\xbb\xbf[]",
    b'{"a": "\\ud800"}',
    b"\x00",
    b"{}" * 1000,
    b'{"a": "' + b"x" * 1_000_000 + b'"}',
]

CONTENT_TYPES = [
    None,
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=nothing",
    "application/json; charset=utf-16",
    "application/vnd.api+json",
    "application/octet-stream",
    "image/png",
    "*/*",
    "",
    "application/json, text/plain",
]

# Values of the wrong type (or of an absurd size) put in place of each field in turn.
WRONG_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**64,
    -(2**70),
    1.5,
    True,
    False,
    "",
    [],
    {},
    ["x"],
    [None],
    {"nested": {"deeper": []}},
    "x" * 100_000,
    ["+989121234567"] * 6000,
]

# Hostile text placed in each string field of a request that is otherwise valid, so that it
# travels past validation into services, storage and the answer.
NASTY_STRINGS: list[str] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202e\u200f",
    "\ufeff",
    "\r\n\t",
    "😀" * 200,
    "x" * 100_000,
    "' OR 1=1 --",
    "%s%n%x",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "۰۹۱۲۳۴۵۶۷۸۹",
    "+98 912 345 6789 ext. 1",
    "NaN",
]

BAD_AUTHORIZATIONS: list[bytes | None] = [
    None,
    b"",
    b"Bearer",
    b"Bearer ",
    b"Bearer    ",
    b"Basic dXNlcjpwYXNz",
    b"Token abc",
    b"Bearer not-a-token",
    b"Bearer " + b"x" * 20_000,
    b"Bearer \xff\xfe\xfd",
    b"Bearer a b c",
    b"Bearer \x01\x02",
]


@dataclass
class Operation:
    method: str
    path: str
    secured: bool
    path_params: list[str]
    query_params: list[str]
    content_type: str | None
    body_schema: dict[str, Any] | None
    components: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: str) -> str:
        url = self.path
        for param in self.path_params:
            url = url.replace("{" + param + "}", values.get(param, "1"))
        return url


def operations(harness: Harness) -> list[Operation]:
    document = harness.app.openapi()
    found = []
    for path, methods in document["paths"].items():
        if path in DOC_PATHS:
            continue
        for method, op in methods.items():
            params = op.get("parameters", [])
            content = op.get("requestBody", {}).get("content", {})
            content_type = next(iter(content), None)
            schema = content[content_type]["schema"] if content_type else None
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    secured=bool(op.get("security")),
                    path_params=[p["name"] for p in params if p["in"] == "path"],
                    query_params=[p["name"] for p in params if p["in"] == "query"],
                    content_type=content_type,
                    body_schema=schema,
                    components=document.get("components", {}).get("schemas", {}),
                )
            )
    assert found, "the OpenAPI document lists no operations"
    return found


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for union in ("anyOf", "oneOf"):  # Optional[X] or a tagged union: take the first X
        if union in schema:
            options = [s for s in schema[union] if s.get("type") != "null"]
            return resolve(options[0], components) if options else schema
    return schema


def sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value of the right JSON type for ``schema`` (valid in type, not necessarily content)."""
    schema = resolve(schema, components)
    kind = schema.get("type")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {name: sample(sub, components) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}), components)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return "x"


def string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from string_leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from string_leaves(sub, (*path, index))


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field (object member or list item) of a JSON value, nested ones too."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield (*path, key)
            yield from leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield (*path, index)
            yield from leaves(sub, (*path, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def removed(value: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def describe(response: httpx.Response) -> str:
    request = response.request
    body = request.content[:120] if request.content else b""
    return (
        f"{request.method} {str(request.url)[:160]} body={body!r} -> "
        f"{response.status_code} {response.text[:200]!r}"
    )


def problems_with(response: httpx.Response) -> str | None:
    """Why this answer breaks P9.2 (None when it keeps it)."""
    if response.status_code >= 500:
        return f"server error: {describe(response)}"
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"error is not JSON: {describe(response)}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return f"error body has the wrong shape: {describe(response)}"
    if not STABLE_CODE.fullmatch(str(error.get("code"))):
        return f"error code is not a stable code: {describe(response)}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"error message missing: {describe(response)}"
    return None


class Findings:
    """Collects every broken answer so one run reports all of them, not just the first."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.sent = 0

    def check(self, response: httpx.Response, *, statuses: set[int] | None = None) -> None:
        self.sent += 1
        problem = problems_with(response)
        if problem is None and statuses is not None and response.status_code not in statuses:
            problem = f"expected one of {sorted(statuses)}: {describe(response)}"
        if problem:
            self.items.append(problem)

    def assert_none(self) -> None:
        assert self.sent > 0
        shown = "\n".join(self.items[:40])
        assert not self.items, f"{len(self.items)} of {self.sent} answers broke P9.2:\n{shown}"


NO_JSON = object()


class Driver:
    """Sends requests as a fresh account whenever the last one may have been signed out."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.client = harness.client()
        self._numbers = itertools.count(1_000_000)
        self._account: Account | None = None
        self.friend: Account | None = None

    def new_phone(self) -> str:
        return f"+98912{next(self._numbers):07d}"

    async def account(self, *, fresh: bool = False) -> Account:
        if fresh or self._account is None:
            self._account = await self.harness.sign_in(self.new_phone(), "Fuzz", client=self.client)
        return self._account

    async def send(
        self,
        op: Operation,
        *,
        url: str | None = None,
        content: bytes | None = None,
        json_body: Any = NO_JSON,
        content_type: str | None = None,
        headers: dict[str, Any] | None = None,
        files: Any = None,
        authorized: bool = True,
    ) -> httpx.Response:
        all_headers: dict[str, Any] = {}
        if authorized and op.secured:
            # Operations that end sessions get an account of their own each time.
            fresh = op.method == "DELETE" and ("session" in op.path or "device" in op.path)
            all_headers.update((await self.account(fresh=fresh)).headers)
        if json_body is not NO_JSON:
            content = json.dumps(json_body).encode()
            content_type = content_type or "application/json"
        if content_type is not None:
            all_headers["content-type"] = content_type
        all_headers.update(headers or {})
        return await self.client.request(
            op.method, url or op.url(), content=content, headers=all_headers, files=files
        )


GoodBody = Callable[[Driver], Awaitable[dict[str, Any]]]


async def _session_body(driver: Driver) -> dict[str, Any]:
    phone = driver.new_phone()
    response = await driver.client.post("/v1/auth/code", json={"phone": phone})
    assert response.status_code == 202, response.text
    code = driver.harness.last_code(phone)
    return {"phone": phone, "code": code, "name": "Fuzz", "device": dict(DEVICE)}


async def _phone_body(driver: Driver) -> dict[str, Any]:
    return {"phone": driver.new_phone()}


async def _profile_body(_driver: Driver) -> dict[str, Any]:
    return {"name": "Fuzz", "status": "here"}


async def _contacts_body(driver: Driver) -> dict[str, Any]:
    return {"phones": [driver.new_phone(), (await driver.account()).phone]}


async def _friend(driver: Driver) -> Account:
    """A second account for the chat and block operations to point at."""
    if driver.friend is None:
        driver.friend = await driver.harness.sign_in(
            driver.new_phone(), "Friend", client=driver.client
        )
    return driver.friend


async def _chat_one(driver: Driver) -> Account:
    """Chat 1 (where the chat operations' URLs point) as a group the driver's account owns,
    with message 1 in it; the driver's account."""
    account = await driver.account()
    response = await driver.client.get("/v1/chats/1", headers=account.headers)
    if response.status_code == 404:
        response = await driver.client.post(
            "/v1/chats", json=await _group_body(driver), headers=account.headers
        )
        assert response.json()["id"] == 1, "the chat operations are sent to chat 1"
    response = await driver.client.post(
        "/v1/chats/1/messages", json={"client_id": "fuzz-1", "text": "x"}, headers=account.headers
    )
    assert response.json()["id"] == 1, "the report operation is sent to message 1"
    return account


async def _group_body(driver: Driver) -> dict[str, Any]:
    return {"type": "group", "title": "Fuzz", "member_ids": [(await _friend(driver)).user_id]}


async def _chat_patch_body(driver: Driver) -> dict[str, Any]:
    await _chat_one(driver)
    return {"title": "Fuzz", "muted": True}


async def _members_body(driver: Driver) -> dict[str, Any]:
    await _chat_one(driver)
    return {"user_ids": [(await _friend(driver)).user_id]}


async def _report_body(driver: Driver) -> dict[str, Any]:
    await _chat_one(driver)
    return {"reason": "spam"}


async def _block_body(driver: Driver) -> dict[str, Any]:
    return {"user_id": (await _friend(driver)).user_id}


_message_numbers = itertools.count(1)


async def _message_body(driver: Driver) -> dict[str, Any]:
    """A new message in chat 1, replying to message 1 (a fresh client_id: never a replay)."""
    await _chat_one(driver)
    return {"client_id": f"fuzz-m{next(_message_numbers)}", "text": "hello", "reply_to": 1}


async def _edit_body(driver: Driver) -> dict[str, Any]:
    await _chat_one(driver)  # message 1 is the driver's own
    return {"text": "edited"}


async def _read_body(driver: Driver) -> dict[str, Any]:
    await _chat_one(driver)
    return {"seq": 1}


# Requests known to succeed, so hostile strings travel past validation. An operation that is
# not listed gets a body derived from its schema (right types, arbitrary content).
GOOD_BODIES: dict[str, GoodBody] = {
    "POST /v1/auth/code": _phone_body,
    "POST /v1/auth/session": _session_body,
    "PATCH /v1/me": _profile_body,
    "PUT /v1/contacts": _contacts_body,
    "POST /v1/invites": _phone_body,
    "POST /v1/chats": _group_body,
    "PATCH /v1/chats/{chat_id}": _chat_patch_body,
    "POST /v1/chats/{chat_id}/members": _members_body,
    "POST /v1/chats/{chat_id}/messages/{message_id}/report": _report_body,
    "POST /v1/blocks": _block_body,
    "POST /v1/chats/{chat_id}/messages": _message_body,
    "PATCH /v1/chats/{chat_id}/messages/{message_id}": _edit_body,
    "POST /v1/chats/{chat_id}/read": _read_body,
}


async def good_body(driver: Driver, op: Operation) -> Any:
    maker = GOOD_BODIES.get(op.name)
    if maker is not None:
        return await maker(driver)
    assert op.body_schema is not None
    return sample(op.body_schema, op.components)


@pytest.fixture
async def lax(make_harness: Any) -> Harness:
    """An app with rate limits off and a small photo limit, so uploads stay cheap."""
    started: Harness = await make_harness(rate_limits="off", photo_max_bytes=64 * 1024)
    return started


@pytest.fixture
def lax_driver(lax: Harness) -> Driver:
    """One driver (one client, one account) shared by all of hypothesis' examples."""
    return Driver(lax)


def json_operations(ops: list[Operation]) -> list[Operation]:
    return [op for op in ops if op.content_type == "application/json"]


async def test_known_good_bodies_are_accepted(lax: Harness) -> None:
    """The baseline: without it, the hostile-string battery would stop at validation."""
    driver = Driver(lax)
    for op in json_operations(operations(lax)):
        if op.name in GOOD_BODIES:
            response = await driver.send(op, json_body=await good_body(driver, op))
            assert response.status_code < 300, describe(response)


async def test_bad_credentials_answer_401_on_every_secured_operation(lax: Harness) -> None:
    driver = Driver(lax)
    account = await driver.account()
    signed_out = await driver.account(fresh=True)
    response = await driver.client.delete("/v1/auth/session", headers=signed_out.headers)
    assert response.status_code == 204
    findings = Findings()
    secured = [op for op in operations(lax) if op.secured]
    assert secured
    values = [*BAD_AUTHORIZATIONS, f"Bearer {signed_out.token}".encode()]
    for op in secured:
        for value in values:
            headers = {} if value is None else {"authorization": value}
            response = await driver.send(op, headers=headers, authorized=False)
            findings.check(response, statuses={401})
            if response.status_code == 401:
                assert response.json()["error"]["code"] in {"missing_token", "invalid_token"}
                assert response.headers.get("www-authenticate") == "Bearer"
    # Open operations do not care about a broken header either.
    for op in operations(lax):
        if not op.secured:
            for value in values[1:]:
                findings.check(await driver.send(op, headers={"authorization": value}))
    findings.assert_none()
    assert (await driver.client.get("/v1/me", headers=account.headers)).status_code == 200


async def test_bad_path_ids_answer_404_or_422(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    with_ids = [op for op in operations(lax) if op.path_params]
    assert with_ids
    for op in with_ids:
        for param in op.path_params:
            for value in BAD_PATH_IDS:
                response = await driver.send(op, url=op.url(**{param: value}))
                findings.check(response, statuses={404, 405, 422})
    findings.assert_none()


async def test_ids_beyond_64_bits_are_not_found(lax: Harness) -> None:
    """They can never exist, so they are simply not found (never a driver overflow)."""
    driver = Driver(lax)
    account = await driver.account()
    for value in ("9223372036854775808", "-9223372036854775809", "1" * 40, "+99999999999999999999"):
        response = await driver.client.get(f"/v1/users/{value}", headers=account.headers)
        assert response.status_code == 404, describe(response)
        assert response.json()["error"]["code"] == "not_found"
    largest = await driver.client.get(f"/v1/users/{INT64_MAX}", headers=account.headers)
    assert largest.status_code == 404, describe(largest)


async def test_numbers_beyond_64_bits_or_not_finite_are_refused_in_bodies(lax: Harness) -> None:
    driver = Driver(lax)
    for body in (
        b'{"name": "N", "status": "s", "x": 99999999999999999999}',
        b'{"name": "N", "status": "s", "x": [-99999999999999999999]}',
        b'{"name": "N", "status": "s", "x": {"y": NaN}}',
        b'{"name": "N", "status": "s", "x": -Infinity}',
    ):
        op = next(o for o in operations(lax) if o.name == "PATCH /v1/me")
        response = await driver.send(op, content=body, content_type="application/json")
        assert response.status_code == 422, describe(response)
        assert response.json()["error"]["code"] == "number_out_of_range"
        assert response.json()["error"]["message"].startswith("body.x")


async def test_bodies_that_are_not_the_expected_json_answer_4xx(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    for op in json_operations(operations(lax)):
        # The admin API answers a non-admin 404 whatever the body: it must not reveal itself.
        hidden = {404} if op.path.startswith("/v1/admin/") else set()
        for body in BAD_JSON_BODIES:
            response = await driver.send(op, content=body, content_type="application/json")
            findings.check(response, statuses={400, 413, 415, 422} | hidden)
        good = json.dumps(await good_body(driver, op)).encode()
        for content_type in CONTENT_TYPES:
            response = await driver.send(op, content=good, content_type=content_type)
            findings.check(response)
    findings.assert_none()


async def test_operations_without_a_body_ignore_or_refuse_one(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    for op in operations(lax):
        if op.content_type is None:
            for body in (b"{", b'{"x": 1}', b"\xff" * 100):
                for content_type in ("application/json", "text/plain", None):
                    findings.check(await driver.send(op, content=body, content_type=content_type))
    findings.assert_none()


async def test_fields_of_the_wrong_type_missing_or_extra_answer_4xx(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    for op in json_operations(operations(lax)):
        base = await good_body(driver, op)
        findings.check(await driver.send(op, json_body={**base, "unexpected": "field"}))
        for path in list(leaves(base)):
            findings.check(await driver.send(op, json_body=removed(base, path)))
            for value in WRONG_VALUES:
                if op.name == "POST /v1/auth/session":
                    base = await good_body(driver, op)  # a code is single use: keep it fresh
                findings.check(await driver.send(op, json_body=replaced(base, path, value)))
    findings.assert_none()


async def test_hostile_strings_in_valid_requests_never_answer_500(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    for op in json_operations(operations(lax)):
        for path in list(string_leaves(await good_body(driver, op))):
            for text in NASTY_STRINGS:
                body = replaced(await good_body(driver, op), path, text)
                findings.check(await driver.send(op, json_body=body))
    findings.assert_none()


async def test_hostile_query_strings_never_answer_500(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    queries = [
        "size=%00",
        "size=" + "x" * 10_000,
        "size=thumb&size=full",
        "size=%FF",
        "x=1",
        "&&==",
    ]
    for op in operations(lax):
        for query in queries:
            findings.check(await driver.send(op, url=f"{op.url()}?{query}"))
    findings.assert_none()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


async def test_broken_uploads_answer_4xx(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    uploads = [op for op in operations(lax) if op.content_type == "multipart/form-data"]
    assert uploads, "no upload operation found; has the photo route moved?"
    png = _png(8, 8)
    cases: list[dict[str, Any]] = [
        {},
        {"json_body": {"file": "x"}},
        {"content": b"garbage", "content_type": "multipart/form-data"},
        {"content": b"--x\r\ngarbage", "content_type": "multipart/form-data; boundary=x"},
        {"content": b"--x--\r\n", "content_type": "multipart/form-data; boundary=x"},
        {"content": b"a=1&file=2", "content_type": "application/x-www-form-urlencoded"},
        {"files": {"other": ("a.png", png, "image/png")}},
        {"files": {"file": ("a.png", b"", "image/png")}},
        {"files": {"file": ("a.png", b"not an image", "image/png")}},
        {"files": {"file": ("a.png", png[: len(png) // 2], "image/png")}},
        {"files": {"file": ("a.png", png + b"\x00" * 70_000, "image/png")}},
        {"files": {"file": ("a.gif", b"GIF89a" + b"\x00" * 100, "image/gif")}},
        {"files": {"file": ("../../etc/passwd\u202e.png", png, 'image/png; x="y')}},
        {
            "files": {
                "file": ("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
            }
        },
        {"files": [("file", ("a.png", png, "image/png")), ("file", ("b.png", png, "image/png"))]},
    ]
    for op in uploads:
        for case in cases:
            findings.check(await driver.send(op, **case))
    findings.assert_none()


async def test_unknown_paths_and_methods_answer_404_and_405(lax: Harness) -> None:
    driver = Driver(lax)
    findings = Findings()
    ops = operations(lax)
    by_path: dict[str, set[str]] = {}
    for op in ops:
        by_path.setdefault(op.path, set()).add(op.method)
    methods = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    for path, allowed in by_path.items():
        op = next(o for o in ops if o.path == path)
        for method in sorted(methods - allowed - ({"HEAD"} if "GET" in allowed else set())):
            response = await driver.client.request(
                method, op.url(), headers=(await driver.account()).headers
            )
            findings.check(response, statuses={405})
            if response.status_code == 405:
                assert response.json()["error"]["code"] == "method_not_allowed"
    for path in (
        "/nope",
        "/v1",
        "/v1/",
        "/v1/users",
        "/v1/users/1/photo/2",
        "/" + "a" * 10_000,
        "/v1/%00",
        "/v1/../etc/passwd",
        "//",
    ):
        findings.check(await driver.client.get(path), statuses={404, 405})
    findings.assert_none()


async def test_rate_limited_answers_keep_the_error_shape(harness: Harness) -> None:
    """With limits on, hammering the code door gives 429s in the same shape with Retry-After."""
    client = harness.client(ip="10.9.8.7")
    findings = Findings()
    limited = None
    for n in range(40):
        response = await client.post("/v1/auth/code", json={"phone": f"+98912{n:07d}"})
        findings.check(response, statuses={202, 429})
        if response.status_code == 429:
            limited = response
    findings.assert_none()
    assert limited is not None
    assert int(limited.headers["retry-after"]) >= 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_arbitrary_json_never_answers_500(lax_driver: Driver, data: st.DataObject) -> None:
    """Hypothesis: any JSON, and any values under each operation's own field names."""
    driver = lax_driver
    findings = Findings()
    for op in json_operations(operations(driver.harness)):
        shaped = sample(op.body_schema or {}, op.components)
        fields = list(shaped) if isinstance(shaped, dict) else []
        body = data.draw(
            JSON_VALUES | st.fixed_dictionaries({}, optional=dict.fromkeys(fields, JSON_VALUES)),
            label=op.name,
        )
        findings.check(await driver.send(op, json_body=body))
    findings.assert_none()
