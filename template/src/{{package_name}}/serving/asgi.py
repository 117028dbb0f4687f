"""The raw ASGI under FastAPI: its types, reading a request body whole, and sending an answer.

Owned by the template: ``copier update`` may replace this file.

The middlewares (``limits``, ``fast_path``, ``metrics``) work at this level, below FastAPI's
routing; these are the few pieces they share, so a body is read, and an answer sent, one way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = b"application/json"
#: The scope's key for the request body once ``limits.BodySizeLimit`` has read it whole (the fast
#: path then takes it from there; ``receive`` still replays it to FastAPI).
BODY = "dsdeploy.body"


class BodyTooLargeError(Exception):
    """More bytes arrived than the caller of ``read_body`` accepts."""


async def read_body(receive: Receive, max_bytes: int | None = None) -> bytes | None:
    """Read the request body whole, counting the bytes that actually arrive.

    Args:
        receive: The connection's ASGI ``receive``.
        max_bytes: Most bytes accepted (chunked bodies declare no length, and a declared length
            can lie); no limit when omitted.

    Returns:
        The body, or ``None`` when the client disconnected first (nobody is left to answer).

    Raises:
        BodyTooLargeError: More than ``max_bytes`` arrived; the rest is not read.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` (already read) first, then the connection's own."""
    replayed = False

    async def replayed_receive() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed_receive


def content_type(scope: Scope) -> bytes | None:
    """The request's ``Content-Type`` header, as sent (``None`` when it has none)."""
    return next((value for name, value in scope["headers"] if name == b"content-type"), None)


def is_json(value: bytes | None) -> bool:
    """Whether a ``Content-Type`` says JSON (``application/json``, with parameters or not)."""
    return value is not None and (value == JSON or value.startswith(JSON + b";"))


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Answer with ``body``, JSON already encoded, as Starlette's ``Response`` would."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", JSON), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
