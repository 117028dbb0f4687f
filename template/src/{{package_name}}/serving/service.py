"""The service assembled, and its life: create the app, load the model, serve, drain on SIGTERM.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Run ``python -m <package>.serve`` (``main``); ``uvicorn <package>.serving.service:app
--no-access-log`` serves it too (the service writes its access log), without ``connections``.
Settings come from environment variables (``settings.Settings``). The model is loaded once at
start-up; readiness stays 503 until it is. ``create_app`` puts the pieces together, outermost
first: request metrics and the access log (``metrics``, ``access_log``), the limits (``limits``),
binary tensors as JSON (``binary``), the fast path (``fast_path``), then FastAPI with the routes
(``routes``), ``/docs`` (``docs``), the model page (``page``); requests share model calls (``batching``).
The lifespan also serves the protocol over gRPC on ``GRPC_PORT`` (``grpc_service``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from .. import __version__
from . import docs, grpc_service, listener, openapi, page, routes, shutdown
from .access_log import AccessLog
from .answers import model_metadata
from .artifact import Model, ModelLoadError, load_model
from .asgi import ASGIApp, Receive, Scope, Send
from .batching import Batcher
from .binary import BinaryTensors
from .connections import GuardedHttp
from .fast_path import FastInference
from .limits import BodySizeLimit
from .metrics import RequestMetrics, ServiceMetrics, multiprocess_dir
from .payload_log import LoggedBatcher, PayloadLog
from .settings import LOG_LEVELS, Settings

logger = logging.getLogger(__name__)
#: Log levels at which the access log is written: ``info`` and the more verbose (its lines are INFO).
ACCESS_LOG_LEVELS = LOG_LEVELS[LOG_LEVELS.index("info") :]


class InferenceService(FastAPI):
    """FastAPI, with the service's own ASGI layers in front of all of FastAPI's.

    FastAPI wraps every request in layers (telemetry, error pages, a body limit, the exception
    handlers) that the fast path needs none of: ~15 us of a one-row request (issue 34). So the
    metrics, limits and fast path come first and hand FastAPI only what they do not answer.
    """

    def front(self, layers: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``layers`` (a function wrapping FastAPI's own handling) in front of FastAPI."""
        self._front = layers(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope: the front layers first."""
        await self._front(scope, receive, send)


def create_app(settings: Settings | None = None, *, model: Model | None = None) -> FastAPI:
    """Build the service.

    Args:
        settings: Service settings; read from the environment when omitted.
        model: An already loaded model (tests, notebooks); otherwise the lifespan loads
            ``settings.model_path`` at start-up and readiness stays 503 until it has.

    Returns:
        The FastAPI application.
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # gRPC first (with GRPC_PORT), so its health answers (live, not ready) while the model loads.
        async with grpc_service.serving(app.state, settings):
            if app.state.model is None:
                # Off the event loop; a failure stops start-up, so a broken artifact fails the pod
                # loudly instead of leaving a live server that is never ready.
                loaded = await asyncio.to_thread(load_model, settings.model_path)
                _install_model(app, loaded, settings, source=settings.model_path)
            shutdown.drain_on_exit_signals(app, settings.shutdown_delay)
            # Everything alive now (the imported libraries, the model) lives as long as the process:
            # move it out of the collector's reach. Otherwise every full collection walks it all
            # (125,000 objects, tens of milliseconds with the loop stopped) and the requests in
            # flight then wait: the p99 at 32 connections was ten times the p50.
            gc.collect()
            gc.freeze()
            yield

    app = InferenceService(
        title=f"{settings.model_name} inference service",
        version=__version__,
        description="Open Inference Protocol (v2) and a simple /predict route for the model.",
        lifespan=lifespan,
        # FastAPI's pages load their scripts from CDNs: `docs` serves Swagger UI's offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.state.model = None
    app.state.shutting_down = False  # set by SIGTERM/SIGINT: readiness turns 503
    app.state.grpc_server = None  # the lifespan's, with GRPC_PORT (grpc_service)
    app.state.grpc_stopped = None  # its shutdown, once begun
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if model is not None:
        _install_model(app, model, settings)
    app.include_router(routes.router)
    docs.install(app)
    if settings.model_page:
        app.include_router(page.router(settings))
    for error, handler in routes.EXCEPTION_HANDLERS.items():
        app.add_exception_handler(error, handler)
    access_log = AccessLog() if settings.access_log and settings.log_level in ACCESS_LOG_LEVELS else None
    app.state.access_log = access_log  # gRPC calls are logged too

    def layers(fastapi: ASGIApp) -> ASGIApp:
        # Outermost first: the metrics also time, count and log the requests the limits refuse.
        limited = BodySizeLimit(
            BinaryTensors(FastInference(fastapi, service=app), settings.model_name),
            max_bytes=settings.max_request_bytes,
            timeout=settings.request_timeout,
        )
        return RequestMetrics(limited, metrics=app.state.metrics, access_log=access_log)

    app.front(layers)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the request bodies the served model takes once it is loaded."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    model: Model | None = app.state.model
    if model is None:
        app.openapi_schema = None  # describe the model's bodies as soon as it is loaded
        return schema
    settings: Settings = app.state.settings
    return openapi.for_model(schema, model, settings.model_name, settings.max_rows, settings.public_example)


def _install_model(app: FastAPI, model: Model, settings: Settings, *, source: Path | None = None) -> None:
    """Serve ``model``: its metadata and its batcher in the app's state, then the model itself.

    Args:
        app: The service.
        model: The model to serve.
        settings: The service's settings (name, batching).
        source: The artifact it was loaded from, to log; ``None`` for a model handed over.
    """
    app.state.model_metadata = model_metadata(model, settings.model_name, public=settings.public_example)
    app.state.metrics.watch_drift(model.profile, settings.drift_features)
    batcher = Batcher(
        model,
        max_batch_size=settings.batch_max_size,
        max_wait=settings.batch_max_wait_ms / 1000,
        max_queue=settings.queue_max_size,
        observer=app.state.metrics,
    )
    if settings.payload_log_rate > 0:  # off: the batcher itself, nothing logged and nothing spent
        log = PayloadLog(model.signature, settings.model_name, settings.payload_log_rate)
        app.state.batcher = LoggedBatcher(batcher, log)
    else:
        app.state.batcher = batcher
    app.state.model = model  # set last: readiness flips only when everything is in place
    if source is not None:
        logger.info("loaded model %r from %s (%d features)", settings.model_name, source, model.n_features)


#: The service, configured from the environment (``uvicorn <package>.serving.service:app`` works too).
app = create_app()


def main() -> None:
    """Run the service with uvicorn on ``HOST``:``PORT`` (default 0.0.0.0:8080).

    ``WORKERS`` processes share the port (default one: in Kubernetes, scale with replicas and
    give each pod one CPU per worker). On SIGTERM uvicorn stops accepting connections, lets
    the requests it has accepted finish, for at most ``SHUTDOWN_TIMEOUT`` seconds, and exits.
    """
    settings: Settings = app.state.settings
    level = logging.DEBUG if settings.log_level == "trace" else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Workers import the app themselves, and write their metrics to files that /metrics adds up.
    target: str | FastAPI = f"{__name__}:app" if settings.workers > 1 else app
    # uvicorn picks httptools (a dependency of this package: HTTP parsed in C) by itself. Its
    # access log is off: the service writes the same lines itself, cheaper (``access_log``). No
    # server header, so the stack is not advertised.
    config = uvicorn.Config(
        target,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        # Deadlines for slow clients and a connection cap that spares the probes (see connections).
        http=GuardedHttp,
        timeout_keep_alive=settings.request_timeout,  # type: ignore[arg-type] - a float is fine
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # A worker imports numpy and scikit-learn before it can answer the supervisor's ping;
        # on a CPU-limited pod that takes longer than uvicorn's 5 s default, and a worker killed
        # for it is restarted forever. A minute covers slow starts without hiding a hung one.
        timeout_worker_healthcheck=60,
    )
    with multiprocess_dir() if settings.workers > 1 else nullcontext():
        status = _serve(config, settings)
    sys.exit(status)


def _serve(config: uvicorn.Config, settings: Settings) -> int:
    """Bind the listening socket, run uvicorn on it (with its supervisor for several workers).

    What ``uvicorn.run`` does, except that the socket is ours (``listener.bind``: TCP_NODELAY
    on every connection, uvicorn issue #3149).

    Returns:
        The exit status: 0, or uvicorn's start-up failure status when the server never started.
    """
    uvicorn_logger = logging.getLogger("uvicorn.error")
    try:
        # Before listening: a missing, truncated or foreign artifact stops the process with one
        # line saying why (not the lifespan's traceback), and it never reports ready.
        loaded = load_model(settings.model_path)
    except ModelLoadError as exc:
        uvicorn_logger.error("cannot start: ModelLoadError: %s", exc)
        return STARTUP_FAILURE
    if config.workers > 1:
        del loaded  # each worker loads its own; this process only supervises
    else:
        _install_model(app, loaded, settings, source=settings.model_path)
    try:
        sock = listener.bind(settings.host, settings.port)
    except OSError as exc:
        uvicorn_logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc)
        return STARTUP_FAILURE
    uvicorn_logger.info("Uvicorn running on %s (Press CTRL+C to quit)", listener.address(sock))
    try:
        if config.workers > 1:
            # The supervisor starts the workers, restarts any that dies, and on SIGTERM stops
            # them (each finishes its accepted requests) before it exits.
            Multiprocess(config, sockets=[sock]).run()
            return 0
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        return 0 if server.started else STARTUP_FAILURE
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()
