"""The listening socket of the server, bound here rather than by uvicorn.

Owned by the template: ``copier update`` may replace this file.

The server binds ``HOST``:``PORT`` itself and hands the socket to uvicorn, to its worker
supervisor when ``WORKERS`` is more than one, so that every accepted connection has
``TCP_NODELAY`` set, whatever the number of workers (see ``bind``).
"""

from __future__ import annotations

import socket


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port``, ready for uvicorn to listen on.

    Args:
        host: An IPv4 or IPv6 address (or a name that resolves to one), as uvicorn takes it.
        port: The TCP port; 0 picks a free one.

    Returns:
        The bound socket (not yet listening), inheritable by worker processes.

    Raises:
        OSError: The address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # HACK: uvicorn's supervisor (workers > 1) binds with `socket.socket(family)`, protocol 0
    # (uvicorn issue #3149, open). Accepted sockets inherit that protocol, asyncio sets
    # TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP, and Nagle's algorithm then
    # holds each response body until the client's delayed ACK: ~40 ms on every keep-alive
    # request after the first. Naming IPPROTO_TCP here makes every worker's connections
    # TCP_NODELAY. Drop this module once uvicorn binds with the protocol itself.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # As uvicorn does: a restarted server can bind at once while old connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """The socket's address as a URL, for the start-up log line (``http://[::]:8080``)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"
