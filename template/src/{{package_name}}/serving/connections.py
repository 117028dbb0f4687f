"""The HTTP connection under the app: uvicorn's protocol with deadlines, a cap, one send per answer.

Owned by the template: ``copier update`` may replace this file.

Slow clients are the reason for the deadlines. uvicorn (0.55, httptools) times out only the idle
time between two requests of a keep-alive connection: a connection that sends half a header is
held open for ever, and enough of them exhaust the worker's file descriptors. So ``GuardedHttp``
gives each request's headers ``REQUEST_TIMEOUT`` from the request's first byte (a connection's
first request: from its opening) and answers 408 past it; the body's deadline is
``limits.BodySizeLimit``'s, which reads the body whole anyway.

uvicorn's own ``limit_concurrency`` answers 503 to every request past the cap, health probes
included: under a flood of slow clients Kubernetes would then restart a pod that is working
fine. ``GuardedHttp`` applies the same cap but lets ``PROBE_PATHS`` through (they cost a few
microseconds each and hold no body); ``limits.BodySizeLimit`` answers the others, where the
metrics and the access log see them. The cap is about file descriptors (1,000 by default, under
the 1,024 a container may be limited to), not memory: a slow client holds a few bytes, so a cap
low enough to bound memory by connections would refuse everyone else as soon as a few hundred
slow clients connect (``limits`` bounds memory by bytes instead).

A refused connection closes lingering (``GuardedHttp.linger``), and an answer's head and body go
to the kernel in one send (``_LingeringClose``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .steps import encode

#: Answered beyond ``MAX_CONNECTIONS``: the probes (a pod must not look dead for being busy) and
#: the metrics (what shows that it is busy).
PROBE_PATHS = frozenset({b"/v2/health/live", b"/v2/health/ready", b"/metrics"})
#: Most seconds a closed connection keeps reading, and dropping, what its client still sends.
LINGER_SECONDS = 2.0
# What ``GuardedHttp`` tells ``limits.BodySizeLimit`` through a request's scope: the request came
# past ``MAX_CONNECTIONS`` (refused there, where the metrics and the access log see it), or its
# body is all in already (read without a deadline, which would cost a timer per request for nothing).
OVER_CAP = "dsdeploy.over_connection_cap"
BODY_IN = "dsdeploy.body_in"


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
        self._arm(self.loop.time())

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
        if self._began:
            self._arm(self._began_at)

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

    def _arm(self, since: float) -> None:
        """Headers due ``REQUEST_TIMEOUT`` after ``since`` (the loop's clock), unless a clock already runs."""
        if self._headers_timer is None:
            self._headers_timer = self.loop.call_at(since + self.timeout_keep_alive, self._expire)

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
