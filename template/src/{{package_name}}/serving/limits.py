"""Request-size limits: headers and bodies too large are refused before anything parses them.

Owned by the template: ``copier update`` may replace this file.

* 431 when the request headers exceed ``MAX_HEADER_BYTES`` (64 KiB) in all;
* 400 for a ``Content-Length`` that is not a number;
* 413 for a body larger than ``MAX_REQUEST_BYTES`` (the ``max_request_bytes`` setting).
"""

from __future__ import annotations

from .asgi import ASGIApp, BodyTooLargeError, Receive, Scope, Send, read_body, replay
from .steps import error_response

# httptools parses headers of any size; past this they are refused (nginx's default is 32 KiB).
MAX_HEADER_BYTES = 64 * 1024


class BodySizeLimit:
    """ASGI middleware that rejects request bodies over ``max_bytes`` with 413.

    Headers over ``MAX_HEADER_BYTES`` in all are refused first, with 431.

    It checks the declared ``Content-Length`` before reading anything, then counts the bytes that
    actually arrive (chunked bodies declare no length, and a declared length can lie). The body
    is buffered and replayed to the app, which reads it whole anyway to parse the JSON.

    Args:
        app: The wrapped ASGI application.
        max_bytes: Largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or ()
        if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
            error = f"request headers exceed the limit of {MAX_HEADER_BYTES} bytes in all"
            await error_response(431, error)(scope, receive, send)
            return
        declared = dict(headers).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "invalid Content-Length header")(scope, receive, send)
                return
            if length > self.max_bytes:
                await error_response(413, self._too_large(length))(scope, receive, send)
                return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLargeError:
            await error_response(413, self._too_large(None))(scope, receive, send)
            return
        if body is None:
            return  # the client left: nobody to answer
        await self.app(scope, replay(body, receive), send)

    def _too_large(self, size: int | None) -> str:
        body = "request body" if size is None else f"request body of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes (MAX_REQUEST_BYTES)"
