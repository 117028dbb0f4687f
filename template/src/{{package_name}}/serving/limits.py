"""Request limits: requests too large, too slow or too many are refused before anything parses them.

Owned by the template: ``copier update`` may replace this file.

* 431 when the request headers exceed ``MAX_HEADER_BYTES`` (64 KiB) in all;
* 400 for a ``Content-Length`` that is not a number;
* 413 for a body larger than ``MAX_REQUEST_BYTES`` (the ``max_request_bytes`` setting);
* 408 when the headers, or then the body, do not arrive within ``REQUEST_TIMEOUT`` seconds; a
  connection idle for as long is closed;
* 503 beyond ``MAX_CONNECTIONS`` open connections per worker, except for the probes;
* 503 while the bodies being received add up to ``BUFFERED_BODIES`` times ``MAX_REQUEST_BYTES``.

Slow clients are the reason for the deadlines. uvicorn (0.55, httptools) times out only the idle
time between two requests of a keep-alive connection: a connection that sends half a header, or
a body one byte a second, is held open for ever, and enough of them exhaust the worker's file
descriptors and memory. So ``GuardedHttp``, uvicorn's protocol with two additions, gives each
request's headers ``REQUEST_TIMEOUT`` from the connection's first byte (or the end of its
previous answer), and ``BodySizeLimit``, which reads the body whole anyway, gives the body as
long again.

uvicorn's own ``limit_concurrency`` answers 503 to every request past the cap, health probes
included: under a flood of slow clients Kubernetes would then restart a pod that is working
fine. ``GuardedHttp`` applies the same cap but lets ``PROBE_PATHS`` through (they cost a few
microseconds each and hold no body). The cap is about file descriptors (1,000 by default, under
the 1,024 a container may be limited to), not memory: a slow client holds a few bytes, so a cap
low enough to bound memory by connections would refuse everyone else as soon as a few hundred
slow clients connect. Memory is bounded by bytes instead: the bodies being received and served
at once may add up to ``BUFFERED_BODIES`` times ``MAX_REQUEST_BYTES`` (64 MiB by default, well
within the chart's memory limit); a body past that gets 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .asgi import BODY, ASGIApp, BodyTooLargeError, Message, Receive, Scope, Send, read_body, replay
from .steps import RETRY_AFTER_SECONDS, encode, error_response

#: Answered beyond ``MAX_CONNECTIONS``: the probes (a pod must not look dead for being busy) and
#: the metrics (what shows that it is busy).
PROBE_PATHS = frozenset({b"/v2/health/live", b"/v2/health/ready", b"/metrics"})

# httptools parses headers of any size; past this they are refused (nginx's default is 32 KiB).
MAX_HEADER_BYTES = 64 * 1024
#: Largest bodies that may be held at once, in all (a body counts from its first byte until its
#: answer is sent): the memory the bodies of many fast senders that stall before their end take.
BUFFERED_BODIES = 64
#: Most seconds a closed connection keeps reading, and dropping, what its client still sends.
LINGER_SECONDS = 2.0
# What ``GuardedHttp`` tells ``BodySizeLimit`` through a request's scope: the request came past
# ``MAX_CONNECTIONS`` (refused there, where the metrics and the access log see it), or its body
# is all in already (read without a deadline, which would cost a timer per request for nothing).
OVER_CAP = "dsdeploy.over_connection_cap"
BODY_IN = "dsdeploy.body_in"


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
        if scope.get(BODY_IN):
            await self._serve_in_hand(scope, receive, send)
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

    async def _serve_in_hand(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request whose body is all in already: no deadline to keep, one count of its bytes.

        The common case (a body that came with its headers), kept apart because a timer and a
        counting ``receive`` for every request cost more than the rest of the limits together.
        """
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLargeError:
            await error_response(413, self._too_large(None))(scope, receive, send)
            return
        if body is None:
            return  # the client left: nobody to answer
        if self.buffered + len(body) > self.max_buffered:
            await self._busy(scope, receive, send)
            return
        self.buffered += len(body)
        try:
            scope[BODY] = body
            await self.app(scope, replay(body, receive), send)
        finally:
            self.buffered -= len(body)

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = f"server busy holding {self.buffered} bytes of other requests' bodies: retry later"
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
        await error_response(503, error, retry)(scope, receive, send)

    async def _read_and_serve(self, scope: Scope, counting: Receive, receive: Receive, send: Send) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                body = await read_body(counting, self.max_bytes)
        except BodyTooLargeError:
            await error_response(413, self._too_large(None))(scope, receive, send)
            return
        except TimeoutError:
            error = f"request body did not arrive whole within {self.timeout:g} s (REQUEST_TIMEOUT)"
            await error_response(408, error, {"Connection": "close"})(scope, receive, send)
            return
        except _BuffersFullError:
            await self._busy(scope, receive, send)
            return
        if body is None:
            return  # the client left: nobody to answer
        scope[BODY] = body
        await self.app(scope, replay(body, receive), send)

    def _too_large(self, size: int | None) -> str:
        body = "request body" if size is None else f"request body of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes (MAX_REQUEST_BYTES)"


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request's headers and a cap that spares probes.

    Give it to uvicorn as ``http=GuardedHttp``; it reads the deadline from ``timeout_keep_alive``
    (``REQUEST_TIMEOUT``, so an idle connection and a stalled one get the same time) and the cap
    from ``limit_concurrency`` (``MAX_CONNECTIONS``), which it applies itself (see the module's doc).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections: int | None = self.limit_concurrency
        self.limit_concurrency = None  # uvicorn's check would refuse the probes too
        self._headers_timer: asyncio.TimerHandle | None = None
        self._began = False  # a request's first bytes arrived, its headers not all yet
        self._began_at = 0.0  # when they did (the loop's clock)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first request's headers are due within the deadline."""
        self._socket = transport
        self._lingering = False
        super().connection_made(_LingeringClose(transport, self))  # type: ignore[arg-type]
        self._arm()

    @property
    def lingering(self) -> bool:
        """Whether the answer is sent and the connection only drains what its client still sends."""
        return self._lingering

    def data_received(self, data: bytes) -> None:
        """Parse what arrives, or drop it once the answer is sent and the connection closing.

        The headers' clock is started only when what arrived leaves a request's headers
        unfinished: most requests come whole in one read, and a timer for each would cost more
        than all the rest of the deadlines' bookkeeping.
        """
        if self._lingering:
            return
        super().data_received(data)
        if self._began and self._headers_timer is None:
            self._headers_timer = self.loop.call_at(self._began_at + self.timeout_keep_alive, self._expire)

    def linger(self) -> None:
        """Close the connection without losing the answer just written to it.

        A socket closed with unread bytes in it answers them with a reset, and a client still
        sending its body (the one a 408 or a 503 refused) may then lose that answer unread. So
        the answer is ended (the write side shut), and what the client still sends is read and
        dropped until it closes too, or for ``LINGER_SECONDS`` at most: nginx's lingering close.
        """
        if self._lingering or self._socket.is_closing():
            return
        self._disarm()
        if not self._socket.can_write_eof():
            self._socket.close()
            return
        self._lingering = True
        self._socket.write_eof()
        self._socket.resume_reading()  # uvicorn may have paused it for a body's backpressure
        self.loop.call_later(LINGER_SECONDS, self._socket.close)

    def eof_received(self) -> bool:
        """The client is done sending: a lingering connection closes now (False closes it)."""
        return False if self._lingering else bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request starts: its headers are due within the deadline (``data_received``)."""
        super().on_message_begin()
        self._began = True
        self._began_at = self.loop.time()

    def on_headers_complete(self) -> None:
        """The headers are in: stop the clock (the body's is ``BodySizeLimit``'s), and mark the cap."""
        self._disarm()
        self._began = False
        cap = self.max_connections
        if cap is not None and len(self.connections) > cap and self.url.partition(b"?")[0] not in PROBE_PATHS:
            self.scope[OVER_CAP] = cap  # refused by BodySizeLimit, counted and logged like any answer
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The body is all in: ``BodySizeLimit`` reads it without a deadline."""
        self.scope[BODY_IN] = True
        super().on_message_complete()

    def _arm(self) -> None:
        if self._headers_timer is None:
            self._headers_timer = self.loop.call_later(self.timeout_keep_alive, self._expire)

    def _disarm(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _expire(self) -> None:
        self._headers_timer = None
        if self.transport.is_closing():
            return
        if self._began and (self.cycle is None or self.cycle.response_complete):
            # Half a request: say why it is dropped (a connection that sent nothing just closes).
            error = f"request headers did not arrive within {self.timeout_keep_alive:g} s (REQUEST_TIMEOUT)"
            body = encode({"error": error})
            head = (
                "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()


class _LingeringClose:
    """A connection's transport as uvicorn sees it: ``close()`` lingers, an answer goes in one send.

    ``close()`` is ``GuardedHttp.linger``. uvicorn writes an answer's head (status line and
    headers) and then its body, two sends to the kernel for every answer; the head of an answer
    whose body has a known length is held here until that body follows (uvicorn writes it, even
    empty, for any method but HEAD; or the connection closes) and both go in one send: about
    15 us of a one-row request (issue 34).
    """

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttp) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held = b""
        self._headed: object = None  # the request whose head was held (its later writes pass)

    def write(self, data: bytes) -> None:
        """Send ``data``; hold an answer's head until its body follows."""
        if self._held:
            data, self._held = self._held + data, b""
        else:
            cycle = self._protocol.cycle
            if (
                cycle is not None
                and cycle is not self._headed
                and cycle.response_started
                and not cycle.response_complete
                and not cycle.chunked_encoding
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"  # uvicorn writes no body for HEAD
            ):
                self._headed = cycle
                self._held = data
                return
        self._transport.write(data)

    def close(self) -> None:
        """Close after the client has read the answer (``GuardedHttp.linger``)."""
        self._flush()
        self._protocol.linger()

    def is_closing(self) -> bool:
        """Closing already while lingering: uvicorn writes nothing more to it."""
        return self._protocol.lingering or self._transport.is_closing()

    def _flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
