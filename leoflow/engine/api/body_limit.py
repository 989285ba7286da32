"""A limit on request bodies, enforced while they arrive (pure ASGI middleware).

Without it a client could post a body of any size and the server would hold it whole
(a 100 MB push took a server from 174 to 675 MB). A declared ``Content-Length`` above the
limit is answered 413 at once, before a byte of the body is read; a body without one
(chunked) is counted as it streams in and refused with 413 as soon as it passes the limit,
so at most ``max_bytes`` (plus one network chunk) is ever held. The answer names the limit
and the setting that moves it (``LEOFLOW_MAX_REQUEST_BYTES``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
SETTING = "LEOFLOW_MAX_REQUEST_BYTES"


def _human(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def too_large_message(limit: int, size: int | None = None) -> str:
    said = f" ({size} bytes)" if size is not None else ""
    return (f"the request body{said} is larger than this server accepts "
            f"({_human(limit)}, {limit} bytes); the operator sets the limit with {SETTING}")


class RequestTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; the API's handler of
    HTTP exceptions answers it 413 (FastAPI lets HTTP exceptions from the body through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer_413(send, too_large_message(self.max_bytes, declared))
            return
        received = 0
        started = False
        limit = self.max_bytes

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except RequestTooLarge as exc:  # raised where no handler caught it
            if not started:
                await _answer_413(send, str(exc.detail))


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses it before the app sees it
    return None


async def _answer_413(send: Any, message: str) -> None:
    body = json.dumps({"detail": message}).encode("utf-8")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode("ascii")),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
