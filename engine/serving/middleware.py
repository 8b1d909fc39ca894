"""ASGI middleware of the serving API, plain ASGI (no per-request task as Starlette's `BaseHTTPMiddleware` adds).

From the outside in: `ObservedRequests` (metrics and a request log whose user ids are keyed hashes), `BodyLimit`
(413 over the limit, before anything parses the body), `RequireApiKey` (401 without the key).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.privacy.ids import user_hasher
from engine.serving.metrics import RequestMetrics

API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health"})
ADMIN_PREFIX = "/admin/"
MAX_BODY_BYTES = 1 << 20
request_log = logging.getLogger("engine.serving.requests")


async def send_json(send: Send, status: int, body: dict) -> None:
    """Answer with a JSON body, straight from middleware."""
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class ObservedRequests:
    """Times every request and counts it under its route template (`/items/{item_id}/similar`), so ids in paths
    make no histogram per item; logs one line per request with the user as a keyed hash, never the raw id (an
    endpoint names its user by setting `request.state.user_id`)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.user_hash = user_hasher()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            endpoint = f"{scope['method']} {route.path if route is not None else 'unmatched'}"
            self.metrics.record(endpoint, status, seconds)
            if request_log.isEnabledFor(logging.INFO):
                user = scope.get("state", {}).get("user_id")
                request_log.info("%s %d %.1fms user=%s", endpoint, status, seconds * 1000.0,
                                 self.user_hash(user) if user is not None else "-")


class BodyLimit:
    """Refuses a body over `limit` bytes with a 413 JSON answer, whether announced (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def _too_large(self, send: Send) -> None:
        await send_json(send, 413, {"detail": f"the request body is over {self.limit} bytes; send a smaller one "
                                              "(a request body here is a few fields, not a file)"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            if declared.isdigit():
                await self._too_large(send)
            else:
                await send_json(send, 400, {"detail": f"Content-Length {declared!r} is not a number of bytes"})
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class RequireApiKey:
    """With a key, every request but `GET /health` must carry it in `X-API-Key` (401 otherwise). Without one,
    the admin endpoints (swap, forget) answer only clients on this machine (403 otherwise)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.key is not None:
            sent = (_header(scope, API_KEY_HEADER.lower().encode()) or "").encode("latin-1")
            if not secrets.compare_digest(sent, self.key):
                await send_json(send, 401, {"detail": f"missing or wrong {API_KEY_HEADER} header; send the key the "
                                                      "server was started with (COLDSTART_API_KEY)"})
                return
        elif scope["path"].startswith(ADMIN_PREFIX) and not _loopback(scope):
            await send_json(send, 403, {"detail": "admin endpoints answer only this machine when the server has no "
                                                  "API key; start it with COLDSTART_API_KEY to manage it remotely"})
            return
        await self.app(scope, receive, send)
