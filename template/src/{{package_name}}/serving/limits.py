"""Request limits: requests too large, too slow or too many are refused before anything parses them.

Owned by the template: ``copier update`` may replace this file.

* 431 when the request headers exceed ``MAX_HEADER_BYTES`` (64 KiB) in all;
* 400 for a ``Content-Length`` that is not a number;
* 413 for a body larger than ``MAX_REQUEST_BYTES`` (the ``max_request_bytes`` setting);
* 408 when the body does not arrive whole within ``REQUEST_TIMEOUT`` seconds of the headers
  (the headers' own deadline, and the idle connection's, are ``connections.GuardedHttp``'s);
* 503 beyond ``MAX_CONNECTIONS`` open connections per worker, except for the probes (the
  connection marks the request: ``connections.OVER_CAP``);
* 503 while the bodies being received add up to ``BUFFERED_BODIES`` times ``MAX_REQUEST_BYTES``.

Memory is bounded by bytes, not connections (see ``connections``): the bodies being received and
served at once may add up to ``BUFFERED_BODIES`` times ``MAX_REQUEST_BYTES`` (64 MiB by default,
well within the chart's memory limit); a body past that gets 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio

from .asgi import BODY, ASGIApp, BodyTooLargeError, Message, Receive, Scope, Send, read_body, replay
from .connections import BODY_IN, OVER_CAP
from .steps import RETRY_AFTER_SECONDS, error_response

# httptools parses headers of any size; past this they are refused (nginx's default is 32 KiB).
MAX_HEADER_BYTES = 64 * 1024
#: Largest bodies that may be held at once, in all (a body counts from its first byte until its
#: answer is sent): the memory the bodies of many fast senders that stall before their end take.
BUFFERED_BODIES = 64


class _BuffersFullError(Exception):
    """The bodies held now already add up to the budget."""


class BodySizeLimit:
    """ASGI middleware that rejects request bodies over ``max_bytes`` with 413.

    Headers over ``MAX_HEADER_BYTES`` in all are refused first, with 431.

    It checks the declared ``Content-Length`` before reading anything, then counts the bytes that
    actually arrive (chunked bodies declare no length, and a declared length can lie). The body
    is buffered and replayed to the app, which reads it whole anyway to parse the JSON.

    The body must arrive whole within ``timeout`` seconds of the headers, else 408 (and the
    connection is closed: the rest of that body is not worth reading). The bodies held at once
    may add up to ``BUFFERED_BODIES * max_bytes``; past that, 503 with ``Retry-After``.

    Args:
        app: The wrapped ASGI application.
        max_bytes: Largest body accepted.
        timeout: Seconds the body may take to arrive (``REQUEST_TIMEOUT``); no limit when omitted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_buffered = BUFFERED_BODIES * max_bytes
        self.buffered = 0  # bytes of the bodies held now, all requests together

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get(OVER_CAP):
            error = f"server at its limit of {scope[OVER_CAP]} connections (MAX_CONNECTIONS): retry later"
            retry = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
            await error_response(503, error, retry)(scope, receive, send)
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
        counted = 0

        async def counting_receive() -> Message:
            nonlocal counted
            message = await receive()
            size = len(message.get("body", b""))
            if self.buffered + size > self.max_buffered:
                raise _BuffersFullError
            counted += size
            self.buffered += size
            return message

        try:
            await self._read_and_serve(scope, counting_receive, receive, send)
        finally:
            self.buffered -= counted

    async def _read_and_serve(self, scope: Scope, counting: Receive, receive: Receive, send: Send) -> None:
        # A body that came whole with its headers (the connection marks it) has nothing left to
        # wait for: no deadline, so no timer, for the common request.
        deadline = None if scope.get(BODY_IN) else self.timeout
        try:
            async with asyncio.timeout(deadline):
                body = await read_body(counting, self.max_bytes)
        except BodyTooLargeError:
            await error_response(413, self._too_large(None))(scope, receive, send)
            return
        except TimeoutError:
            error = f"request body did not arrive whole within {self.timeout:g} s (REQUEST_TIMEOUT)"
            await error_response(408, error, {"Connection": "close"})(scope, receive, send)
            return
        except _BuffersFullError:
            error = f"server busy holding {self.buffered} bytes of other requests' bodies: retry later"
            retry = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
            await error_response(503, error, retry)(scope, receive, send)
            return
        if body is None:
            return  # the client left: nobody to answer
        scope[BODY] = body
        await self.app(scope, replay(body, receive), send)

    def _too_large(self, size: int | None) -> str:
        body = "request body" if size is None else f"request body of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes (MAX_REQUEST_BYTES)"
