"""The OpenAPI document is the contract: schemathesis checks every operation against it.

For each operation of ``/openapi.json`` schemathesis generates requests from the document
(bounded: a few examples per operation) and sends them to the real ASGI app, signed in as a
real user (an admin, so the admin API is reached too), with a group, a channel, a message and
an upload to find. Each answer must not be a server error, must use a status and a content
type the document declares for the operation, and its body must match the declared schema
(for errors, the ``{"error": {"code", "message"}}`` envelope).

The app runs in schemathesis' own event loop (its ASGI client starts the lifespan), so this
module builds its own app on SQLite rather than using the async harness. Rate limits are off:
every operation signs a fresh account in.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from payam.app import build_services, create_app
from payam.domain.clock import FakeClock
from tests.conftest import DEVICE, DatabaseTarget, make_settings

pytestmark = pytest.mark.schemathesis

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Small PNG (1x1, red) for the upload that other operations can then find.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)
_phones = (f"+98912{n:07d}" for n in itertools.count(1000001))
_turns = itertools.count()


class App:
    """The app under test and a client into it (schemathesis' ASGI client, same event loop)."""

    def __init__(self, data_dir: Path) -> None:
        database = DatabaseTarget("sqlite", f"sqlite+aiosqlite:///{data_dir / 'payam.sqlite3'}")
        self.settings = make_settings(data_dir, database, rate_limits="off")
        self.clock = FakeClock()
        self.app = create_app(self.settings, clock=self.clock, background_jobs=False)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        with asgi.get_client(self.app) as client:
            return client.request(method, f"http://{asgi.HOST}{path}", **kwargs)

    def sign_in(self) -> tuple[int, str, str]:
        phone = next(_phones)
        assert self.request("POST", "/v1/auth/code", json={"phone": phone}).status_code == 202
        outbox = (self.settings.data_dir / "sms-outbox.jsonl").read_text().splitlines()
        text = next(json.loads(m)["text"] for m in reversed(outbox) if phone in m)
        code = re.search(r"\b(\d{6})\b", text)
        assert code
        body = {"phone": phone, "code": code.group(1), "device": DEVICE, "name": "Contract"}
        answer = self.request("POST", "/v1/auth/session", json=body)
        assert answer.status_code == 201, answer.text
        self.clock.advance(3600)  # the next code to any number is not "too soon"
        data = answer.json()
        return data["user"]["id"], data["token"], phone

    def make_admin(self, phone: str) -> None:
        """As ``payam admin grant`` does: its own services on the same database."""

        async def grant() -> None:
            services = build_services(self.settings, clock=self.clock)
            try:
                await services.admin.grant(phone)
            finally:
                await services.db.dispose()

        asyncio.run(grant())


# Loaded when the module is collected, as schemathesis intends: one test per operation.
CONTRACT = App(Path(tempfile.mkdtemp(prefix="payam-contract-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", CONTRACT.app)


@pytest.fixture(scope="module")
def contract_app() -> Iterator[App]:
    yield CONTRACT
    asgi.shutdown_lifespans()
    shutil.rmtree(CONTRACT.settings.data_dir, ignore_errors=True)


@dataclass
class Setup:
    token: str
    ids: dict[str, Any]  # path parameter -> an object of this user's that exists


_current: list[Setup] = []


@pytest.fixture
def setup(contract_app: App) -> Setup:
    """The admin account of the previous operation while it still works, else a fresh one (an
    operation may sign itself out, erase itself or delete its group)."""
    if _current:
        found = _current[0]
        me = _auth(found.token)
        if all(
            contract_app.request("GET", path, headers=me).status_code == 200
            for path in ("/v1/me", f"/v1/chats/{found.ids['chat_id']}")
        ):
            return found
        _current.clear()
    _current.append(fresh_setup(contract_app))
    return _current[0]


def fresh_setup(contract_app: App) -> Setup:
    """An admin with a peer, a group with a message, a report and an invite link, a channel
    with a post, and an upload, so that generated requests can also find real objects."""
    peer_id, peer_token, _ = contract_app.sign_in()
    user_id, user_token, phone = contract_app.sign_in()
    contract_app.make_admin(phone)
    mine, peers = _auth(user_token), _auth(peer_token)

    def post(path: str, who: dict[str, str], **kwargs: Any) -> Any:
        answer = contract_app.request("POST", path, headers=who, **kwargs)
        assert answer.status_code in {200, 201}, (path, answer.text)
        return answer.json()

    group = post("/v1/chats", mine, json={"type": "group", "title": "g", "member_ids": [peer_id]})
    message = post(
        f"/v1/chats/{group['id']}/messages", peers, json={"client_id": "c1", "text": "hi"}
    )
    report = post(
        f"/v1/chats/{group['id']}/messages/{message['id']}/report", mine, json={"reason": "r"}
    )
    invite = post(f"/v1/chats/{group['id']}/invites", mine)
    handle = f"chan{user_id}"
    channel = post("/v1/chats", mine, json={"type": "channel", "title": "c", "handle": handle})
    post(f"/v1/chats/{channel['id']}/messages", mine, json={"client_id": "p1", "text": "post"})
    media = post("/v1/media", mine, files={"file": ("a.png", PNG, "image/png")})
    ids = {
        "chat_id": group["id"],
        "message_id": message["id"],
        "report_id": report["report_id"],
        "token": invite["token"],
        "handle": handle,
        "media_id": media["id"],
        "user_id": peer_id,
    }
    return Setup(user_token, ids | {"channel": channel["id"]})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_the_document_says(case: Any, setup: Setup) -> None:
    # Every other example asks for real objects: random ids alone would mostly find nothing,
    # and the answers for something found are the ones whose bodies matter most.
    if case.path_parameters and next(_turns) % 2:
        for name in case.path_parameters:
            if name in setup.ids:
                case.path_parameters[name] = setup.ids[name]
        if any(part in case.path for part in ("/stats", "/views", "/join")):
            case.path_parameters["chat_id"] = setup.ids["channel"]
    # A long poll (GET /v1/updates?timeout=S) rightly waits S seconds when nothing comes; the
    # client here gives up after 10, so the wait is kept short (the answer's shape is the same).
    timeout = (case.query or {}).get("timeout")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 1:
        case.query["timeout"] = 1
    case.call_and_validate(headers=_auth(setup.token), checks=CHECKS)
