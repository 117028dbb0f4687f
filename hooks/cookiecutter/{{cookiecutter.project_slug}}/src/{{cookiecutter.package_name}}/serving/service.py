"""HTTP inference service: Open Inference Protocol (v2) routes plus a simple ``/predict``.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Run ``python -m <package>.serve``; settings come from environment variables (see
``config.Settings``). The model is loaded once at start-up; every route then only validates its
input and calls the model. Bad input always gets a 4xx with ``{"error": "<what is wrong>"}``:

* 400 malformed JSON or an invalid ``Content-Length``;
* 404 unknown model name or route;
* 413 body larger than ``MAX_REQUEST_BYTES`` or more rows than ``MAX_ROWS``;
* 431 request headers larger than ``MAX_HEADER_BYTES`` (64 KiB) in all;
* 422 well-formed JSON that is not a valid request (wrong fields, shape, feature count, types,
  non-finite numbers, no rows);
* 503 (not a client error) while the model is not loaded, or when ``QUEUE_MAX_SIZE`` requests
  already wait for the model (with ``Retry-After``).

Concurrent requests share model calls (``batching``); well-formed inference requests take a fast
path around FastAPI's routing (``FastInference``); ``/metrics`` serves Prometheus metrics.
``/docs`` renders offline (``docs``); ``/`` is the model page (``page``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from types import FrameType
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from numpy.typing import NDArray
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from .. import __version__
from . import docs, listener, openapi, page
from .artifact import Model, ModelLoadError, load_model
from .batching import Batcher, Prediction, QueueFullError
from .metrics import MULTIPROC_ENV, RequestMetrics, ServiceMetrics
from .protocol import (
    ErrorResponse,
    InferRequest,
    InferResponse,
    ModelMetadata,
    NumericInferRequest,
    NumericPredictRequest,
    PredictRequest,
    PredictResponse,
    ServerMetadata,
    check_infer,
    check_predict,
    describe_validation_errors,
    infer_content,
    model_metadata,
    model_refused,
    predict_content,
)
from .settings import Settings

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1  # what a 503 for a full queue tells the client to wait
# httptools parses headers of any size; past this they are refused (nginx's default is 32 KiB).
MAX_HEADER_BYTES = 64 * 1024
JSON_HEADERS = [(b"content-type", b"application/json")]

# ---------------------------------------------------------------------------------------------
# Request-size limit
# ---------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
            await self._reject(scope, receive, send, 431, error)
            return
        declared = dict(headers).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._reject(scope, receive, send, 400, "invalid Content-Length header")
                return
            if length > self.max_bytes:
                await self._reject(scope, receive, send, 413, self._too_large(length))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send, 413, self._too_large(None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _too_large(self, size: int | None) -> str:
        body = "request body" if size is None else f"request body of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes (MAX_REQUEST_BYTES)"

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, status: int, error: str) -> None:
        await JSONResponse({"error": error}, status_code=status)(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# Errors: every one is {"error": "..."}; bad input is never a 5xx
# ---------------------------------------------------------------------------------------------


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "cannot parse")
        position = first.get("loc", ("body", "?"))[-1]
        return JSONResponse({"error": f"malformed JSON at position {position}: {reason}"}, status_code=400)
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") in {
        "model_attributes_type",
        "dict_type",
    }:
        message = "request body must be a JSON object sent with Content-Type: application/json"
    else:
        message = describe_validation_errors(errors)
    return JSONResponse({"error": message}, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 404, 413, 422, 503)
}
router = APIRouter()


# Dependencies are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a
# thread hop on every request for what is an attribute lookup.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _loaded_model(request: Request) -> Model:
    model: Model | None = request.app.state.model
    if model is None:
        raise HTTPException(
            status_code=503, detail="model is not loaded yet: retry when /v2/health/ready is 200"
        )
    return model


async def _named_model(model_name: str, request: Request) -> Model:
    served = request.app.state.settings.model_name
    if model_name != served:
        raise HTTPException(
            status_code=404, detail=f"model {model_name!r} not found: this server serves {served!r}"
        )
    return _loaded_model(request)


NamedModel = Annotated[Model, Depends(_named_model)]


@router.get("/v2/health/live", tags=["health"])
async def live() -> dict[str, bool]:
    """Liveness: 200 while the process runs."""
    # async and trivial: answered on the event loop, so probes never queue behind predictions.
    return {"live": True}


@router.get("/v2/health/ready", tags=["health"], responses={503: {"model": ErrorResponse}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 once the model is loaded, else 503; 503 again from the start of shutdown."""
    if request.app.state.model is None:
        return JSONResponse({"ready": False, "error": "model is not loaded yet"}, status_code=503)
    if request.app.state.shutting_down:
        # Live stays 200 and requests are still answered: only new traffic should go elsewhere.
        return JSONResponse({"ready": False, "error": "shutting down"}, status_code=503)
    return JSONResponse({"ready": True})


@router.get("/v2", tags=["metadata"])
async def server_metadata(settings: Annotated[Settings, Depends(_settings)]) -> ServerMetadata:
    """Server metadata."""
    return ServerMetadata(name=settings.model_name, version=__version__, extensions=[])


@router.get("/v2/models/{model_name}", tags=["metadata"], responses=ERROR_RESPONSES)
async def get_model_metadata(request: Request, model: NamedModel) -> ModelMetadata:
    """Model metadata: input and output tensors, feature and class names."""
    metadata: ModelMetadata = request.app.state.model_metadata
    return metadata


@router.get("/v2/models/{model_name}/ready", tags=["health"], responses=ERROR_RESPONSES)
async def model_ready(model_name: str, model: NamedModel) -> dict[str, Any]:
    """Model readiness: 200 when this model is loaded, 404 for another name, 503 before loading."""
    return {"name": model_name, "ready": True}


def _overloaded(exc: QueueFullError) -> HTTPException:
    # Refuse rather than queue without bound: the client (or the load balancer) retries
    # elsewhere or a moment later, and the requests already queued keep their latency.
    return HTTPException(
        status_code=503,
        detail=f"server overloaded ({exc}): retry after {RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _predict(request: Request, matrix: NDArray[Any], *, proba: bool = False) -> Prediction:
    """Run ``matrix`` through the app's batcher; a full queue becomes 503 with Retry-After."""
    batcher: Batcher = request.app.state.batcher
    try:
        return await batcher.predict(matrix, proba=proba)
    except QueueFullError as exc:
        raise _overloaded(exc) from None
    except ValueError as exc:
        # Checked values the estimator still refuses (a scaler overflowing to infinity): the
        # request's rows are the problem, and only this request's (the batcher retries alone).
        raise model_refused(exc) from None


def _json(content: Any) -> Response:
    # pydantic-core's serializer (Rust) straight to bytes: no response-model round trip.
    return Response(to_json(content), media_type="application/json")


# These two routes answer what the fast path (below) passes on: requests it cannot vouch for,
# errors included, so every error message comes from FastAPI's validation and the checks in
# `protocol`. They are also what /docs describes.
@router.post(
    "/v2/models/{model_name}/infer",
    tags=["inference"],
    responses=ERROR_RESPONSES,
    response_model=InferResponse,
)
async def infer(body: InferRequest, model: NamedModel, request: Request) -> Response:
    """Open Inference Protocol v2 inference: one tensor [rows, features], or one [rows] per column."""
    settings: Settings = request.app.state.settings
    matrix, wanted = check_infer(body, model, settings.max_rows)
    prediction = await _predict(request, matrix, proba="predict_proba" in wanted)
    return _json(infer_content(body, wanted, prediction, settings.model_name))


@router.post("/predict", tags=["inference"], responses=ERROR_RESPONSES, response_model=PredictResponse)
async def predict(body: PredictRequest, request: Request) -> Response:
    """Predict one label (or value) per row of ``instances``: lists in column order, or objects."""
    model = _loaded_model(request)
    matrix = check_predict(body, model, request.app.state.settings.max_rows)
    return _json(predict_content(await _predict(request, matrix)))


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency by route and status, batch sizes, queue depth."""
    service_metrics: ServiceMetrics = request.app.state.metrics
    body, content_type = service_metrics.exposition()
    return Response(body, media_type=content_type)


# ---------------------------------------------------------------------------------------------
# Fast path for well-formed inference requests
# ---------------------------------------------------------------------------------------------


class FastInference:
    """ASGI middleware that answers well-formed inference requests without FastAPI's routing.

    FastAPI's routing, dependency solving and body handling cost more CPU per request than
    everything else the service does for a small request, the model call aside (measured:
    about 140 us against 90 us, before batching shares the model call). For a POST to the served
    model's infer route or to ``/predict`` with a JSON body, this parses the body with
    pydantic-core in one step, runs the same checks as the routes (``protocol``), and answers.
    Anything it cannot vouch for (another model name, another content type, a body that does not
    validate, a failed check, a model not yet loaded) goes on to the FastAPI routes unchanged,
    so every error is still answered, and worded, by them.

    Args:
        app: The wrapped ASGI application (FastAPI's routing).
        service: The FastAPI app, for its ``state`` (settings, model, batcher) and its routes.
    """

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app = app
        self.state = service.state
        settings: Settings = service.state.settings
        self.max_rows = settings.max_rows
        self.model_name = settings.model_name
        self.infer_path = f"/v2/models/{settings.model_name}/infer"
        routes = {route.path: route for route in router.routes if isinstance(route, APIRoute)}
        self.infer_route = routes["/v2/models/{model_name}/infer"]
        self.predict_route = routes["/predict"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        model: Model | None = self.state.model
        if scope["type"] == "http" and scope["method"] == "POST" and _content_type(scope) is None:
            # Open Inference Protocol clients (Triton's among them) send JSON bodies without a
            # Content-Type, as Triton and KServe accept them: read those as JSON too.
            scope["headers"] = [*scope["headers"], (b"content-type", b"application/json")]
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or model is None
            or scope["path"] not in (self.infer_path, "/predict")
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client left: nobody to answer
        try:
            content = await self._answer(scope, body, model)
        except (ValidationError, HTTPException):
            # Not a request we can vouch for: the route answers it, with the exact message.
            await self.app(scope, _replay(body, receive), send)
            return
        except QueueFullError as exc:
            overloaded = _overloaded(exc)
            content = {"error": overloaded.detail}
            headers = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode()), *JSON_HEADERS]
            await _send(send, overloaded.status_code, to_json(content), headers)
            return
        await _send(send, 200, to_json(content), JSON_HEADERS)

    async def _answer(self, scope: Scope, body: bytes, model: Model) -> dict[str, Any]:
        batcher: Batcher = self.state.batcher
        try:
            if scope["path"] == "/predict":
                request = NumericPredictRequest.model_validate_json(body)
                matrix = check_predict(request, model, self.max_rows)
                scope["route"] = self.predict_route  # as the router would, for the metrics' label
                return predict_content(await batcher.predict(matrix))
            infer_request = NumericInferRequest.model_validate_json(body)
            matrix, wanted = check_infer(infer_request, model, self.max_rows)
            scope["route"] = self.infer_route
            prediction = await batcher.predict(matrix, proba="predict_proba" in wanted)
            return infer_content(infer_request, wanted, prediction, self.model_name)
        except ValidationError:
            raise
        except ValueError as exc:
            raise model_refused(exc) from None  # the route answers it (and words it) again


def _content_type(scope: Scope) -> bytes | None:
    return next((value for name, value in scope["headers"] if name == b"content-type"), None)


def _is_json(scope: Scope) -> bool:
    value = _content_type(scope)
    return value is not None and (value == b"application/json" or value.startswith(b"application/json;"))


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------
# Application
# ---------------------------------------------------------------------------------------------


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
        if app.state.model is None:
            # Off the event loop; a failure stops start-up, so a broken artifact fails the pod
            # loudly instead of leaving a live server that is never ready.
            loaded = await asyncio.to_thread(load_model, settings.model_path)
            _install_model(app, loaded, settings)
            logger.info(
                "loaded model %r from %s (%d features)",
                settings.model_name,
                settings.model_path,
                loaded.n_features,
            )
        _drain_on_exit_signals(app, settings.shutdown_delay)
        # Everything alive now (the imported libraries, the model) lives as long as the process:
        # move it out of the collector's reach. Otherwise every full collection walks it all
        # (125,000 objects, tens of milliseconds with the loop stopped) and the requests in
        # flight then wait: the p99 at 32 connections was ten times the p50.
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(
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
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if model is not None:
        _install_model(app, model, settings)
    app.include_router(router)
    docs.install(app)
    if settings.model_page:
        app.include_router(page.router(settings))
    app.add_middleware(FastInference, service=app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # Added last, so outermost: it also times and counts the requests the body limit refuses.
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
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
    return openapi.for_model(schema, model, settings.model_name, settings.max_rows)


def _install_model(app: FastAPI, model: Model, settings: Settings) -> None:
    app.state.model_metadata = model_metadata(model, settings.model_name)
    app.state.batcher = Batcher(
        model,
        max_batch_size=settings.batch_max_size,
        max_wait=settings.batch_max_wait_ms / 1000,
        max_queue=settings.queue_max_size,
        observer=app.state.metrics,
    )
    app.state.model = model  # set last: readiness flips only when everything is in place


def _drain_on_exit_signals(app: FastAPI, delay: float) -> None:
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
    target: str | FastAPI = app
    if settings.workers > 1:
        # Workers import the app themselves, and write their metrics to files that /metrics
        # adds up; /tmp is the one writable path of the read-only image.
        target = f"{__name__}:app"
        os.environ.setdefault(MULTIPROC_ENV, tempfile.mkdtemp(prefix="prometheus-"))
    # uvicorn picks httptools (a dependency of this package: HTTP parsed in C) by itself. The
    # access log gives one line per request; no server header, so the stack is not advertised.
    config = uvicorn.Config(
        target,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # A worker imports numpy and scikit-learn before it can answer the supervisor's ping;
        # on a CPU-limited pod that takes longer than uvicorn's 5 s default, and a worker killed
        # for it is restarted forever. A minute covers slow starts without hiding a hung one.
        timeout_worker_healthcheck=60,
    )
    sys.exit(_serve(config, settings))


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
        _install_model(app, loaded, settings)
        logger.info(
            "loaded model %r from %s (%d features)",
            settings.model_name,
            settings.model_path,
            loaded.n_features,
        )
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
