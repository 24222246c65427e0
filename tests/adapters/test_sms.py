"""SMS backends: the outbox file and an HTTP gateway (a real local stub server) (P1.2).

A gateway that fails must not cost the user: ``POST /v1/auth/code`` answers 503
``sms_unavailable`` and neither the number nor the address is throttled for the lost code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from payam.adapters.sms import HttpSms, OutboxSms, SmsError
from payam.domain.clock import FakeClock
from tests.conftest import CODE_RE, DEVICE, Harness

PHONE = "+989123456789"


# --- a minimal HTTP/1.1 server on 127.0.0.1 ----------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StubGateway:
    """Answers every request with ``status`` and records it; ``hang`` makes it never answer."""

    status: int = 200
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send?account=payam"

    async def start(self) -> None:
        """Listen on a free port, or on the same one again after ``stop``."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(request_line[0], request_line[1], headers, body))
            if self.hang:
                await asyncio.sleep(30)
            reply = b'{"ok": true}'
            writer.write(
                f"HTTP/1.1 {self.status} Stub\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(reply)}\r\nConnection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def gateway() -> AsyncIterator[StubGateway]:
    stub = StubGateway()
    await stub.start()
    yield stub
    await stub.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/send"


@pytest.fixture
async def http_sms(gateway: StubGateway) -> AsyncIterator[HttpSms]:
    sms = HttpSms(gateway.url, '{"to": {to}, "text": {text}}', timeout=5)
    yield sms
    await sms.aclose()


# --- OutboxSms ---------------------------------------------------------------------------------


async def test_outbox_appends_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sms-outbox.jsonl"
    clock = FakeClock()
    outbox = OutboxSms(path, clock)
    await outbox.send(PHONE, "Your code is 123456.\nDo not share it.")
    clock.advance(5)
    await outbox.send("+16502530000", 'سلام "payam"')
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"to": PHONE, "text": "Your code is 123456.\nDo not share it.", "at": clock.now() - 5},
        {"to": "+16502530000", "text": 'سلام "payam"', "at": clock.now()},
    ]


async def test_outbox_is_readable_only_by_the_server(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    await OutboxSms(path).send(PHONE, "123456")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_outbox_keeps_lines_whole_under_concurrent_sends(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    outbox = OutboxSms(path)
    await asyncio.gather(*(outbox.send(PHONE, f"message {i} " + "x" * 2000) for i in range(50)))
    texts = {json.loads(line)["text"].split()[1] for line in path.read_text().splitlines()}
    assert texts == {str(i) for i in range(50)}


async def test_outbox_prune_removes_old_and_undated_lines_and_overwrites_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    clock = FakeClock()
    outbox = OutboxSms(path, clock)
    # A line from before retention (no time) and a torn line from a crash go too.
    path.write_text(json.dumps({"to": "+16502530001", "text": "undated 111111"}) + "\n{torn")
    path.write_text(path.read_text() + "\n")
    await outbox.send(PHONE, "old code 222222")
    clock.advance(100)
    await outbox.send("+16502530000", "new code 333333")
    size_before = path.stat().st_size
    assert await outbox.prune(older_than=clock.now() - 50) == 3
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == [
        "new code 333333"
    ]
    assert path.stat().st_size < size_before
    assert await outbox.prune(older_than=clock.now() - 50) == 0


async def test_outbox_erase_removes_every_line_to_a_number(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    outbox = OutboxSms(path, FakeClock())
    for text in ("code 111111", "code 222222"):
        await outbox.send(PHONE, text)
    await outbox.send("+16502530000", "code 333333")
    assert await outbox.erase(PHONE) == 2
    data = path.read_bytes()
    assert PHONE.encode() not in data and b"111111" not in data
    assert [json.loads(line)["to"] for line in data.decode().splitlines()] == ["+16502530000"]
    assert await OutboxSms(tmp_path / "missing.jsonl").erase(PHONE) == 0


# --- HttpSms against the stub ------------------------------------------------------------------


async def test_http_sms_posts_the_rendered_template(
    gateway: StubGateway, http_sms: HttpSms
) -> None:
    await http_sms.send(PHONE, "Your payam code is 123456.")
    [request] = gateway.received
    assert request.method == "POST"
    assert request.path == "/send?account=payam"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"to": PHONE, "text": "Your payam code is 123456."}


@pytest.mark.parametrize(
    "text",
    [
        'He said "hi"',
        "back\\slash and\nnew line\ttab",
        "کد ورود شما ۱۲۳۴۵۶ است",
        "emoji 🔐 and control \x01",
        '", "to": "+15555550000',  # an injection attempt stays inside the string
        "{to} and {text} are not expanded again",
    ],
)
async def test_http_sms_json_escapes_values(
    gateway: StubGateway, http_sms: HttpSms, text: str
) -> None:
    await http_sms.send(PHONE, text)
    assert gateway.received[-1].json() == {"to": PHONE, "text": text}


async def test_http_sms_template_and_headers_are_configurable(gateway: StubGateway) -> None:
    template = (
        '{"messages": [{"destinations": [{"to": {to}}], "from": "payam", "text": {text}}],'
        ' "copy": {text}}'
    )
    sms = HttpSms(
        gateway.url,
        template,
        headers={"Authorization": "App s3cr3t", "X-Tenant": "42"},
        timeout=5,
    )
    try:
        await sms.send(PHONE, "code 654321")
    finally:
        await sms.aclose()
    [request] = gateway.received
    assert request.headers["authorization"] == "App s3cr3t"
    assert request.headers["x-tenant"] == "42"
    assert request.json() == {
        "messages": [{"destinations": [{"to": PHONE}], "from": "payam", "text": "code 654321"}],
        "copy": "code 654321",
    }


async def test_http_sms_keeps_a_configured_content_type(gateway: StubGateway) -> None:
    sms = HttpSms(
        gateway.url,
        '{"to": {to}, "text": {text}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    try:
        await sms.send(PHONE, "hi")
    finally:
        await sms.aclose()
    assert gateway.received[0].headers["content-type"] == "application/json; charset=utf-8"


def test_render_does_not_expand_placeholders_inside_values() -> None:
    sms = HttpSms("http://127.0.0.1:9/", "[{to}, {text}]")
    assert json.loads(sms.render("{text}", "{to}")) == ["{text}", "{to}"]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_http_sms_accepts_2xx(gateway: StubGateway, http_sms: HttpSms, status: int) -> None:
    gateway.status = status
    await http_sms.send(PHONE, "hi")


@pytest.mark.parametrize("status", [301, 400, 401, 429, 500, 502, 503])
async def test_http_sms_raises_when_the_gateway_refuses(
    gateway: StubGateway, http_sms: HttpSms, status: int
) -> None:
    gateway.status = status
    with pytest.raises(SmsError, match=str(status)):
        await http_sms.send(PHONE, "hi")


async def test_http_sms_raises_when_the_gateway_is_unreachable() -> None:
    sms = HttpSms(closed_port_url(), '{"to": {to}, "text": {text}}', timeout=5)
    try:
        with pytest.raises(SmsError, match="unreachable"):
            await sms.send(PHONE, "hi")
    finally:
        await sms.aclose()


async def test_http_sms_gives_up_after_its_timeout(gateway: StubGateway) -> None:
    gateway.hang = True
    sms = HttpSms(gateway.url, '{"to": {to}, "text": {text}}', timeout=0.2)
    try:
        with pytest.raises(SmsError):
            await sms.send(PHONE, "hi")
    finally:
        await sms.aclose()


# --- the HTTP backend wired into the server ----------------------------------------------------


async def start_with_gateway(make_harness: Any, url: str, **overrides: Any) -> Harness:
    harness: Harness = await make_harness(
        sms_backend="http",
        sms_http_url=url,
        sms_http_headers={"Authorization": "Bearer gateway-key"},
        sms_http_body_template='{"recipient": {to}, "message": {text}, "sender": "payam"}',
        sms_http_timeout=5,
        **overrides,
    )
    return harness


async def test_sign_in_codes_go_through_the_configured_gateway(
    make_harness: Any, gateway: StubGateway
) -> None:
    harness = await start_with_gateway(make_harness, gateway.url, default_region="IR")
    response = await harness.http.post("/v1/auth/code", json={"phone": "0912 345 6789"})
    assert response.status_code == 202
    [request] = gateway.received
    assert request.headers["authorization"] == "Bearer gateway-key"
    body = request.json()
    assert body["recipient"] == PHONE
    assert body["sender"] == "payam"
    found = CODE_RE.search(body["message"])
    assert found
    # Nothing went to the outbox file instead.
    assert not (harness.settings.data_dir / "sms-outbox.jsonl").exists()
    signed_in = await harness.http.post(
        "/v1/auth/session",
        json={"phone": PHONE, "code": found.group(1), "name": "Sara", "device": DEVICE},
    )
    assert signed_in.status_code == 201


@pytest.mark.parametrize("failure", ["500", "503", "unreachable"])
async def test_gateway_failure_is_503_sms_unavailable_and_costs_the_user_nothing(
    make_harness: Any, gateway: StubGateway, failure: str
) -> None:
    harness = await start_with_gateway(
        make_harness, gateway.url, limits={"auth_code_per_ip": "1/3600"}
    )
    if failure == "unreachable":
        await gateway.stop()
    else:
        gateway.status = int(failure)
    response = await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "sms_unavailable"
    assert response.json()["error"]["message"]

    # The gateway is back: asking again at once works, from the same address, though that
    # address may ask for only one code an hour. The lost code was not counted anywhere.
    if failure == "unreachable":
        await gateway.start()
    gateway.status = 200
    retried = await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    assert retried.status_code == 202, retried.text
    assert retried.json()["retry_after"] == 30


async def test_a_failed_resend_keeps_the_code_that_did_arrive(
    make_harness: Any, gateway: StubGateway
) -> None:
    harness = await start_with_gateway(make_harness, gateway.url)
    assert (await harness.http.post("/v1/auth/code", json={"phone": PHONE})).status_code == 202
    found = CODE_RE.search(gateway.received[-1].json()["message"])
    assert found
    harness.clock.advance(30)
    gateway.status = 502
    assert (await harness.http.post("/v1/auth/code", json={"phone": PHONE})).status_code == 503
    # The schedule is where it was: the second code may still be asked for at once...
    gateway.status = 200
    retried = await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    assert retried.status_code == 202
    assert retried.json()["retry_after"] == 60


async def test_the_first_code_survives_a_failed_resend(
    make_harness: Any, gateway: StubGateway
) -> None:
    harness = await start_with_gateway(make_harness, gateway.url)
    await harness.http.post("/v1/auth/code", json={"phone": PHONE})
    found = CODE_RE.search(gateway.received[-1].json()["message"])
    assert found
    harness.clock.advance(30)
    gateway.status = 500
    assert (await harness.http.post("/v1/auth/code", json={"phone": PHONE})).status_code == 503
    signed_in = await harness.http.post(
        "/v1/auth/session",
        json={"phone": PHONE, "code": found.group(1), "name": "Sara", "device": DEVICE},
    )
    assert signed_in.status_code == 201


async def test_http_backend_needs_a_url(make_harness: Any) -> None:
    with pytest.raises(ValueError, match="SMS_HTTP_URL"):
        await make_harness(sms_backend="http")
