"""Web Push (RFC 8030) with encrypted payloads (RFC 8291) and VAPID (RFC 8292).

``WebPush.send`` encrypts a payload to one subscription with ``pywebpush`` (``aes128gcm``),
signs a VAPID claim for the endpoint's origin with the server's key, and posts it with
``httpx``. It returns the push service's status; what to do with it (retry, drop the
subscription on 404/410) is the push service's decision (``services/push.py``). Nothing here
logs a payload or an endpoint.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str


class PushSender(Protocol):
    async def send(
        self, subscription: Subscription, payload: dict[str, Any], *, urgency: str, ttl: int
    ) -> int:
        """Post one push; the push service's HTTP status (raises on a network failure)."""
        ...

    async def aclose(self) -> None: ...


class WebPush:
    def __init__(self, private_key_pem: bytes, contact: str, *, timeout: float = 10.0) -> None:
        from py_vapid import Vapid  # noqa: PLC0415 (pulls in requests; only when pushing)

        self._vapid = Vapid.from_pem(private_key_pem)
        self.contact = contact
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(
        self, subscription: Subscription, payload: dict[str, Any], *, urgency: str, ttl: int
    ) -> int:
        from pywebpush import WebPusher  # noqa: PLC0415

        data = json.dumps(payload, separators=(",", ":")).encode()
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        body = WebPusher(info).encode(data, "aes128gcm")["body"]
        parts = urlsplit(subscription.endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + 12 * 3600,
            "sub": self.contact,
        }
        headers = {
            **self._vapid.sign(claims),
            "TTL": str(ttl),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        response = await self._client.post(subscription.endpoint, content=body, headers=headers)
        return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()


def public_key_b64(private_key_pem: bytes) -> str:
    """The VAPID public key as browsers want it (``applicationServerKey``): the uncompressed
    P-256 point, base64url without padding."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
