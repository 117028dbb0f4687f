"""Shutdown on SIGTERM and SIGINT: readiness turns 503 first, then the servers drain.

Owned by the template: ``copier update`` may replace this file.

Kubernetes sends SIGTERM when a pod is deleted, while load balancers may still send it traffic
for a few seconds: the service keeps answering, says it is not ready, and only then stops
accepting (HTTP through uvicorn, gRPC through ``grpc_service.drain``), with the batcher flushed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from fastapi import FastAPI

from . import grpc_service

logger = logging.getLogger(__name__)


def drain_on_exit_signals(app: FastAPI, delay: float) -> None:
    """Make SIGTERM and SIGINT turn readiness to 503 and flush the batcher before the server stops.

    On SIGTERM the server is marked as shutting down: ``/v2/health/ready`` answers 503 while
    ``/v2/health/live`` stays 200. After ``delay`` seconds (``SHUTDOWN_DELAY``; 0 by default,
    because the chart's preStop hook holds the delay before SIGTERM is even sent) uvicorn's own
    shutdown starts: it stops accepting, lets the requests in flight finish within
    ``SHUTDOWN_TIMEOUT``, and exits. Requests held for a fuller batch (``BATCH_MAX_WAIT_MS``)
    are flushed then rather than waiting out their timer. During the delay the server keeps
    accepting and answering, so load balancers that have not yet dropped it lose nothing; a
    second signal skips the rest of the delay.
    """
    # HACK: uvicorn has no hook that runs when it starts to shut down (the lifespan's shutdown
    # comes after the requests in flight are done), so chain its signal handlers. It installs
    # them before the lifespan starts and restores its predecessors when it exits.
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread receives signals (TestClient runs the app in another)
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []

    def stop(previous: Callable[[int, FrameType | None], Any], signum: int, frame: FrameType | None) -> None:
        app.state.batcher.drain()
        # gRPC stops taking calls as HTTP stops taking connections, with the same time for the rest.
        grpc_service.drain(app.state, app.state.settings.shutdown_timeout)
        previous(signum, frame)

    def begin(previous: Callable[[int, FrameType | None], Any], signum: int, frame: FrameType | None) -> None:
        if app.state.shutting_down or delay <= 0:
            for handle in pending:
                handle.cancel()
            app.state.shutting_down = True
            stop(previous, signum, frame)
            return
        app.state.shutting_down = True
        logger.info("shutting down in %g s (SHUTDOWN_DELAY): readiness is 503 meanwhile", delay)
        pending.append(loop.call_later(delay, stop, previous, signum, frame))

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # no server in this process handles the signal: leave it alone

        def handler(
            signum: int, frame: FrameType | None, previous: Callable[[int, FrameType | None], Any] = previous
        ) -> None:
            # A signal handler may interrupt the loop anywhere: hand the work to the loop.
            loop.call_soon_threadsafe(begin, previous, signum, frame)

        signal.signal(sig, handler)
