"""Request bodies that are not uploads are capped (P9.2): nobody makes the server read a huge
JSON document, signed in or not."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

from PIL import Image

from tests.conftest import Harness

PHONE = "+989120000001"


async def test_a_json_body_over_the_limit_is_refused_413_before_any_route(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(json_body_max_bytes=10_000)
    body = json.dumps({"phones": ["+98912" + "0" * 7] * 2000})
    response = await harness.http.put(
        "/v1/contacts", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(make_harness: Any) -> None:
    harness: Harness = await make_harness(json_body_max_bytes=10_000)
    account = await harness.sign_in(PHONE, "Sara")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"phones": ['
        for _ in range(2000):
            yield b'"+989120000000",'
        yield b'"+989120000000"]}'

    response = await harness.http.put(
        "/v1/contacts",
        content=chunks(),
        headers={**account.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    held = await harness.http.get("/v1/contacts", headers=account.headers)
    assert held.json()["count"] == 0


async def test_a_body_under_the_limit_goes_through(make_harness: Any) -> None:
    harness: Harness = await make_harness(json_body_max_bytes=10_000)
    account = await harness.sign_in(PHONE, "Sara")
    response = await harness.http.patch("/v1/me", json={"name": "Sara B"}, headers=account.headers)
    assert response.status_code == 200


async def test_photo_uploads_are_not_held_to_the_json_limit(make_harness: Any) -> None:
    harness: Harness = await make_harness(json_body_max_bytes=1_000)
    account = await harness.sign_in(PHONE, "Sara")
    out = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(out, "PNG")
    assert len(out.getvalue()) > 1_000
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("me.png", out.getvalue(), "image/png")},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
