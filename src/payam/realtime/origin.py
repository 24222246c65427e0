"""Which pages may open the WebSocket: the server's own origin, or one configured.

A browser sends the session cookie (P6.1) with a WebSocket handshake from any site, and a
handshake is not subject to CORS: without this check another site's page could read a signed-in
user's messages (cross-site WebSocket hijacking). Clients that are not browsers send no
``Origin`` and authenticate by bearer token, which no other site can attach.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.websockets import WebSocket

# Close code for a handshake from a page of another origin (public contract, docs/realtime.md).
CLOSE_FORBIDDEN_ORIGIN = 4403


def own_origin(websocket: WebSocket) -> str:
    """The origin of the page the server itself serves, as seen in this handshake."""
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return f"{scheme}://{websocket.headers.get('host', '')}".lower()


def origin_allowed(websocket: WebSocket, configured: Iterable[str]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    return origin == own_origin(websocket) or origin in {o.lower() for o in configured}
