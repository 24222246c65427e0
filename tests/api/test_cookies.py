"""The web session cookie (P6.1): HttpOnly, SameSite=Lax, Secure over TLS, and CSRF-checked
writes; bearer-token requests are unaffected."""

from __future__ import annotations

from typing import Any

import httpx
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tests.conftest import DEVICE, Harness

SARA = "+989120000001"


async def cookie_sign_in(harness: Harness, client: httpx.AsyncClient, phone: str) -> Any:
    response = await client.post("/v1/auth/code", json={"phone": phone})
    assert response.status_code == 202, response.text
    response = await client.post(
        "/v1/auth/session",
        json={
            "phone": phone,
            "code": harness.last_code(phone),
            "name": "Sara",
            "device": DEVICE,
            "cookie": True,
        },
    )
    assert response.status_code == 201, response.text
    return response


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    """cookie name -> its whole Set-Cookie header, lower-cased."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header.lower()
    return found


async def test_cookie_sign_in_sets_an_httponly_lax_session_and_a_readable_csrf_cookie(
    harness: Harness,
) -> None:
    client = harness.client()
    response = await cookie_sign_in(harness, client, SARA)

    body = response.json()
    assert body["token"] is None  # page script never sees the session token
    cookies = set_cookie_headers(response)
    session, csrf = cookies["payam_session"], cookies["payam_csrf"]
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "httponly" not in csrf and "samesite=lax" in csrf
    assert "secure" not in session  # plain http
    assert client.cookies["payam_csrf"] == body["csrf_token"]


async def test_over_tls_the_cookies_are_secure(harness: Harness) -> None:
    transport = httpx.ASGITransport(app=harness.app, client=("127.0.0.1", 50000))
    client = httpx.AsyncClient(transport=transport, base_url="https://payam.test")
    harness.clients.append(client)

    response = await cookie_sign_in(harness, client, SARA)

    assert all("; secure" in c for c in set_cookie_headers(response).values())


async def test_x_forwarded_proto_from_a_trusted_proxy_makes_them_secure(harness: Harness) -> None:
    behind_proxy = ProxyHeadersMiddleware(harness.app, trusted_hosts="127.0.0.1")
    transport = httpx.ASGITransport(app=behind_proxy, client=("127.0.0.1", 50000))
    client = httpx.AsyncClient(
        transport=transport,
        base_url="http://payam.test",
        headers={"x-forwarded-proto": "https"},
    )
    harness.clients.append(client)

    response = await cookie_sign_in(harness, client, SARA)

    assert all("; secure" in c for c in set_cookie_headers(response).values())


async def test_x_forwarded_proto_from_anyone_else_is_ignored(harness: Harness) -> None:
    behind_proxy = ProxyHeadersMiddleware(harness.app, trusted_hosts="10.0.0.1")
    transport = httpx.ASGITransport(app=behind_proxy, client=("127.0.0.1", 50000))
    client = httpx.AsyncClient(
        transport=transport,
        base_url="http://payam.test",
        headers={"x-forwarded-proto": "https"},
    )
    harness.clients.append(client)

    response = await cookie_sign_in(harness, client, SARA)

    assert not any("; secure" in c for c in set_cookie_headers(response).values())


async def test_cookie_reads_work_and_writes_need_the_csrf_header(harness: Harness) -> None:
    client = harness.client()
    csrf = (await cookie_sign_in(harness, client, SARA)).json()["csrf_token"]

    assert (await client.get("/v1/me")).status_code == 200

    refused = await client.patch("/v1/me", json={"status": "hi"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = await client.patch("/v1/me", json={"status": "hi"}, headers={"X-CSRF-Token": "x"})
    assert wrong.json()["error"]["code"] == "csrf_failed"
    ok = await client.patch("/v1/me", json={"status": "hi"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "hi"


async def test_a_planted_csrf_cookie_that_matches_the_header_is_still_refused(
    harness: Harness,
) -> None:
    client = harness.client()
    await cookie_sign_in(harness, client, SARA)
    client.cookies.set("payam_csrf", "attacker-chosen", domain="payam.test")

    refused = await client.put(
        "/v1/me/consents", json={"statistics": True}, headers={"X-CSRF-Token": "attacker-chosen"}
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"


async def test_bearer_requests_need_no_csrf_header(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")

    response = await harness.client().patch("/v1/me", json={"status": "x"}, headers=sara.headers)

    assert response.status_code == 200


async def test_signing_out_a_cookie_session_ends_it_and_clears_the_cookies(
    harness: Harness,
) -> None:
    client = harness.client()
    csrf = (await cookie_sign_in(harness, client, SARA)).json()["csrf_token"]
    stolen = client.cookies["payam_session"]

    response = await client.delete("/v1/auth/session", headers={"X-CSRF-Token": csrf})

    assert response.status_code == 204
    cleared = set_cookie_headers(response)
    assert "max-age=0" in cleared["payam_session"] and "max-age=0" in cleared["payam_csrf"]
    replay = harness.client()
    replay.cookies.set("payam_session", stolen, domain="payam.test")
    assert (await replay.get("/v1/me")).status_code == 401
