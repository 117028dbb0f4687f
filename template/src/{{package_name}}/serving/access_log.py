"""The access log: one line per answered request, in uvicorn's format, written cheaply.

Owned by the template: ``copier update`` may replace this file.

uvicorn's own access log goes through ``logging`` for every request: a log record, a look-up of
the caller's frame, a formatter that copies the record, and a write and flush of the stream per
line. That cost about 50 us of a one-row request, a fifth of the service's own time
(benchmarks/README.md, issue 34). This writes the same line to the same stream (standard output)
and joins the lines of one turn of the event loop into one write:

    INFO:     127.0.0.1:52814 - "POST /v2/models/iris/infer HTTP/1.1" 200 OK

A line is written once its request is answered; the lines of several worker processes sharing
the stream never cut into each other (each write ends at a line and stays under ``PIPE_BUF``).
"""

from __future__ import annotations

import asyncio
import sys
from http import HTTPStatus
from typing import TextIO

from .asgi import Scope

#: Characters one write may hold: 4,096 bytes at most in UTF-8 (a path's latin-1 characters take
#: two at most), what a pipe writes atomically (POSIX ``PIPE_BUF``).
MAX_WRITE = 2048
_PHRASES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class AccessLog:
    """Lines for answered requests, written at the end of the event loop's turn.

    Args:
        stream: Where to write (standard output when omitted, as uvicorn's access log).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lines: list[str] = []

    def record(self, scope: Scope, status: int | str) -> None:
        """Log the answered request of ``scope`` with its ``status`` (a gRPC call's: its code's name)."""
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else ""
        path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        query = scope.get("query_string")
        if query:
            path = f"{path}?{query.decode('ascii', 'replace')}"
        request = f"{scope['method']} {path.replace(chr(34), '%22')} HTTP/{scope.get('http_version', '1.1')}"
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(f'INFO:     {address} - "{request}" {_PHRASES.get(status, status)}\n')

    def flush(self) -> None:
        """Write the lines held now, whole lines of at most ``MAX_WRITE`` bytes per write."""
        lines, self._lines = self._lines, []
        stream = self._stream or sys.stdout
        chunk: list[str] = []
        size = 0
        try:
            for line in lines:
                if chunk and size + len(line) > MAX_WRITE:
                    stream.write("".join(chunk))
                    stream.flush()
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                stream.write("".join(chunk))
                stream.flush()
        except (OSError, ValueError):
            pass  # the stream is closed or gone (the process is exiting): lose the lines, not the service
