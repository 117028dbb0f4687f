"""The Open Inference Protocol over gRPC: KServe's ``inference.GRPCInferenceService`` on ``GRPC_PORT``.

Owned by the template: ``copier update`` may replace this file.

Every worker process serves it beside HTTP, on the same event loop: the app's lifespan starts the
server (``start``) and stops it; several workers share the port through ``SO_REUSEPORT`` (the
kernel spreads the connections), and nothing of gRPC exists before the workers start (each makes
its own server in its own lifespan). The RPCs run the HTTP API's steps (``steps``): the same
model, checks, batcher and limits, refusals with the same sentence and the gRPC code of the HTTP
status (``CODES``); metrics and the access log count them as requests to the route
``/inference.GRPCInferenceService/<Method>`` with the code's name as their status.

On SIGTERM the server drains as HTTP does (``drain``): readiness turns false at once, new RPCs
are refused once the HTTP server starts its shutdown, and RPCs in flight get ``SHUTDOWN_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from fastapi import HTTPException
from google.protobuf.message import DecodeError
from starlette.datastructures import State

from .. import __version__
from . import steps
from .access_log import AccessLog
from .answers import infer_content
from .checks import check_infer
from .grpc_codec import infer_request, infer_response, invalid
from .grpc_proto import (
    METHODS,
    SERVICE,
    ModelMetadataResponse,
    ModelReadyResponse,
    ServerLiveResponse,
    ServerMetadataResponse,
    ServerReadyResponse,
    request_class,
    response_class,
)
from .protocol import ModelMetadata
from .settings import Settings

logger = logging.getLogger(__name__)
Code = grpc.StatusCode
#: The gRPC code of each HTTP status a step refuses with (413: the code gRPC itself gives a message
#: over the size limit); the message is the same sentence.
CODES = {
    400: Code.INVALID_ARGUMENT,
    404: Code.NOT_FOUND,
    413: Code.RESOURCE_EXHAUSTED,
    422: Code.INVALID_ARGUMENT,
    500: Code.INTERNAL,
    503: Code.UNAVAILABLE,
}
Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class InferenceServicer:
    """The six RPCs, answered from the app's state (``settings``, ``model``, ``batcher``, ...)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def _ready(self) -> bool:
        return self.state.model is not None and not self.state.shutting_down

    async def server_live(self, request: Any) -> Any:
        """Live while the process answers."""
        return ServerLiveResponse(live=True)

    async def server_ready(self, request: Any) -> Any:
        """Ready once the model is loaded, and no longer from the start of shutdown (``/v2/health/ready``)."""
        return ServerReadyResponse(ready=self._ready())

    async def model_ready(self, request: Any) -> Any:
        """As ``server_ready`` for the served model; NOT_FOUND for another name."""
        if request.name != self.state.settings.model_name:
            steps.served_model(self.state, request.name)  # raises the 404
        return ModelReadyResponse(ready=self._ready())

    async def server_metadata(self, request: Any) -> Any:
        """The server's name and version, as ``GET /v2``."""
        return ServerMetadataResponse(name=self.state.settings.model_name, version=__version__, extensions=[])

    async def model_metadata(self, request: Any) -> Any:
        """The model's tensors, as ``GET /v2/models/{name}`` (the proto has no ``parameters`` field)."""
        steps.served_model(self.state, request.name)
        metadata: ModelMetadata = self.state.model_metadata
        response = ModelMetadataResponse(
            name=metadata.name, versions=metadata.versions, platform=metadata.platform
        )
        for tensor in metadata.inputs:
            response.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        for tensor in metadata.outputs:
            response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        return response

    async def model_infer(self, request: Any) -> Any:
        """Inference, through the same checks and batcher as ``POST /v2/models/{name}/infer``."""
        model = steps.served_model(self.state, request.model_name)
        body = infer_request(request, model.signature)
        settings: Settings = self.state.settings
        matrix, wanted = check_infer(body, model, settings.max_rows, settings.max_response_values)
        prediction = await steps.predict(self.state.batcher, matrix, wanted)
        content = infer_content(body, wanted, prediction, settings.model_name)
        return infer_response(content, raw=bool(request.raw_input_contents))


def _parser(method: str) -> Callable[[bytes], Any]:
    """The request parser of ``method``: ``None`` for bytes that are no such message (refused, not a 500)."""
    message = request_class(method)

    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except DecodeError:
            return None

    return parse


def _client(peer: str) -> tuple[str, int] | None:
    """``ipv4:127.0.0.1:5000`` or ``ipv6:[::1]:5000`` as an ASGI scope's ``client``."""
    _, _, address = peer.partition(":")
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else None


def _observed(state: State, method: str, answer: Callable[[Any], Awaitable[Any]]) -> Handler:
    """``answer`` as a gRPC handler: refusals as status codes, each call counted, timed and logged."""
    route = f"/{SERVICE}/{method}"
    access_log: AccessLog | None = state.access_log

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        start = time.perf_counter()
        code = Code.OK
        trailers: tuple[tuple[str, str], ...] = ()
        try:
            if request is None:
                raise invalid(f"the request is not a {method}Request message of {SERVICE}")
            return await answer(request)
        except HTTPException as exc:
            code = CODES.get(exc.status_code, Code.INVALID_ARGUMENT)
            message = str(exc.detail)
            if exc.headers and "Retry-After" in exc.headers:
                trailers = (("retry-after", exc.headers["Retry-After"]),)
        except asyncio.CancelledError:
            code = Code.CANCELLED  # the client went away: counted, not logged, as HTTP does
            raise
        except Exception as exc:
            logger.exception("%s failed", route)
            code = Code.INTERNAL
            message = f"internal error ({type(exc).__name__}): see the service's log"
        finally:
            state.metrics.observe_request(route, "POST", code.name, time.perf_counter() - start)
            if access_log is not None and code is not Code.CANCELLED:
                client = _client(context.peer())
                access_log.record(
                    {"client": client, "method": "POST", "path": route, "http_version": "2"}, code.name
                )
        await context.abort(code, message, trailers)  # raises: grpc answers with the code
        return None

    return handle


def handlers(state: State) -> grpc.GenericRpcHandler:
    """The service's method handlers, answering from ``state``."""
    servicer = InferenceServicer(state)
    answers = {
        "ServerLive": servicer.server_live,
        "ServerReady": servicer.server_ready,
        "ModelReady": servicer.model_ready,
        "ServerMetadata": servicer.server_metadata,
        "ModelMetadata": servicer.model_metadata,
        "ModelInfer": servicer.model_infer,
    }
    assert tuple(answers) == METHODS  # noqa: S101 - every method of the proto, no other
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            method: grpc.unary_unary_rpc_method_handler(
                _observed(state, method, answer),
                request_deserializer=_parser(method),
                response_serializer=response_class(method).SerializeToString,
            )
            for method, answer in answers.items()
        },
    )


async def start(state: State, settings: Settings, port: int) -> tuple[grpc.aio.Server, int]:
    """Start serving gRPC on ``settings.host``:``port`` on the running event loop.

    Args:
        state: The app's state, which the RPCs answer from.
        settings: The service's settings: the host, the size limit of a request
            (``MAX_REQUEST_BYTES``) and whether other workers share the port (``WORKERS``).
        port: The port (``GRPC_PORT``); 0 picks a free one.

    Returns:
        The started server and the port it listens on.

    Raises:
        OSError: The address cannot be bound (in use by another process, with one worker).
    """
    options = [
        # A larger message is refused with RESOURCE_EXHAUSTED before it is read, as HTTP's 413.
        ("grpc.max_receive_message_length", settings.max_request_bytes),
        # Workers share the port; a lone worker must own it, so a port taken by another server
        # fails the start instead of splitting its traffic with a stranger.
        ("grpc.so_reuseport", int(settings.workers > 1)),
    ]
    server = grpc.aio.server(handlers=[handlers(state)], options=options)
    address = f"[{settings.host}]:{port}" if ":" in settings.host else f"{settings.host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc's word for a failed bind
        raise OSError(f"cannot listen for gRPC on {address} (GRPC_PORT): {exc}") from None
    await server.start()
    return server, bound


@asynccontextmanager
async def serving(state: State, settings: Settings) -> AsyncIterator[None]:
    """Serve gRPC on ``GRPC_PORT`` while the context lasts (nothing when ``settings.grpc_port`` is None).

    Runs in the app's lifespan, so each worker serves on its own event loop; on exit the server
    stops, giving the calls in flight ``SHUTDOWN_TIMEOUT`` (unless ``drain`` began it already).
    """
    if settings.grpc_port is None:
        yield
        return
    state.grpc_server, port = await start(state, settings, settings.grpc_port)
    logger.info("gRPC (Open Inference Protocol) on %s:%d", settings.host, port)
    try:
        yield
    finally:
        await stop(state, settings.shutdown_timeout)


def drain(state: State, grace: float) -> None:
    """Begin the server's shutdown: new RPCs are refused, those in flight get ``grace`` seconds."""
    server: grpc.aio.Server | None = state.grpc_server
    if server is not None and state.grpc_stopped is None:
        state.grpc_stopped = asyncio.ensure_future(server.stop(grace))


async def stop(state: State, grace: float) -> None:
    """Shut the server down (``drain``, if the signal handler has not already) and wait for it."""
    drain(state, grace)
    if state.grpc_stopped is not None:
        await state.grpc_stopped
