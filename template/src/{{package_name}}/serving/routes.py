"""The HTTP routes (FastAPI): Open Inference Protocol (v2) health, metadata and inference, ``/predict``.

Every REST route of the protocol: server live, ready and metadata; model ready, metadata and
infer, each also under ``/versions/{model_version}`` for the one version served (the package's,
the metadata's ``versions``).

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

These routes are what /docs describes, and they answer every request the fast path
(``fast_path``) passes on, errors included; both run the same steps (``steps``). Bad input always
gets a 4xx with ``{"error": "<what is wrong>"}``:

* 400 malformed JSON or an invalid ``Content-Length`` (or ``Inference-Header-Content-Length``);
* 404 unknown model name, model version or route;
* 413 body larger than ``MAX_REQUEST_BYTES``, more rows than ``MAX_ROWS``, or an answer of more
  values than ``MAX_RESPONSE_VALUES``;
* 431 request headers larger than ``limits.MAX_HEADER_BYTES`` (64 KiB) in all;
* 422 well-formed JSON that is not a valid request (wrong fields, shape, feature count, types,
  non-finite numbers, no rows, ``parameters`` it cannot honour: ``parameters``);
* 503 (not a client error) while the model is not loaded, or when ``QUEUE_MAX_SIZE`` requests
  already wait for the model (with ``Retry-After``);
* 500 for a fault of the service itself, still as JSON (the traceback goes to the log).

``/metrics`` serves Prometheus metrics (``metrics``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from . import steps
from .answers import infer_content, predict_content
from .artifact import Model
from .checks import check_infer, check_predict
from .metrics import ServiceMetrics
from .protocol import (
    BINARY_EXTENSION,
    ErrorResponse,
    InferRequest,
    InferResponse,
    ModelMetadata,
    PredictRequest,
    PredictResponse,
    ServerMetadata,
)
from .refusals import describe_validation_errors
from .settings import Settings

#: Where the fast path passes on to; their route objects label its requests' metrics too.
MODEL_PATH = "/v2/models/{model_name}"
VERSION_PATH = MODEL_PATH + "/versions/{model_version}"
INFER_PATH = MODEL_PATH + "/infer"
VERSION_INFER_PATH = VERSION_PATH + "/infer"
PREDICT_PATH = "/predict"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 404, 413, 422, 503)
}
#: An answer asked for in binary (Triton's binary tensor extension, ``binary``): JSON, then bytes.
BINARY_ANSWER = {
    "description": "Outputs asked for as binary_data: the JSON answer (Inference-Header-Content-Length "
    "bytes long, each such output with parameters.binary_data_size instead of data), then their bytes",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
INFER_RESPONSES = {**ERROR_RESPONSES, 200: BINARY_ANSWER}
router = APIRouter()


# Dependencies are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a
# thread hop on every request for what is an attribute lookup.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _named_model(model_name: str, request: Request) -> Model:
    return steps.served_model(request.app.state, model_name)


async def _versioned_model(model_name: str, model_version: str, request: Request) -> Model:
    return steps.served_model(request.app.state, model_name, model_version)


NamedModel = Annotated[Model, Depends(_named_model)]
VersionedModel = Annotated[Model, Depends(_versioned_model)]


def served_paths(model_name: str) -> dict[str, APIRoute]:
    """The served model's inference paths (the version's too) and ``/predict``, each with its route.

    The ASGI layers in front of FastAPI (``fast_path``, ``binary``) take these paths only (another
    name or version goes on to the routes, for their 404) and label a request they answer with
    its route, as the router would: the metrics count requests by route template.
    """
    routes = {route.path: route for route in router.routes if isinstance(route, APIRoute)}
    return {
        path.replace("{model_name}", model_name).replace("{model_version}", __version__): routes[path]
        for path in (INFER_PATH, VERSION_INFER_PATH, PREDICT_PATH)
    }


def _json(content: Any) -> Response:
    return Response(steps.encode(content), media_type="application/json")


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
    """Server metadata: the extensions are Triton's binary tensor data (``binary``)."""
    return ServerMetadata(name=settings.model_name, version=__version__, extensions=[BINARY_EXTENSION])


@router.get(MODEL_PATH, tags=["metadata"], responses=ERROR_RESPONSES)
async def get_model_metadata(request: Request, model: NamedModel) -> ModelMetadata:
    """Model metadata: input and output tensors, feature and class names, ``versions`` (the one served)."""
    metadata: ModelMetadata = request.app.state.model_metadata
    return metadata


@router.get(VERSION_PATH, tags=["metadata"], responses=ERROR_RESPONSES)
async def get_version_metadata(request: Request, model: VersionedModel) -> ModelMetadata:
    """The metadata of one version of the model: the one served, else 404 naming it."""
    metadata: ModelMetadata = request.app.state.model_metadata
    return metadata


@router.get(MODEL_PATH + "/ready", tags=["health"], responses=ERROR_RESPONSES)
async def model_ready(model_name: str, model: NamedModel) -> dict[str, Any]:
    """Model readiness: 200 when this model is loaded, 404 for another name, 503 before loading."""
    return {"name": model_name, "ready": True}


@router.get(VERSION_PATH + "/ready", tags=["health"], responses=ERROR_RESPONSES)
async def version_ready(model_name: str, model_version: str, model: VersionedModel) -> dict[str, Any]:
    """Readiness of one version of the model: 200 for the one served once loaded, else 404 or 503."""
    return {"name": model_name, "version": model_version, "ready": True}


async def _infer(body: InferRequest, model: Model, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    matrix, wanted = check_infer(body, model, settings.max_rows, settings.max_response_values)
    prediction = await steps.predict(request.app.state.batcher, matrix, wanted)
    return _json(infer_content(body, wanted, prediction, settings.model_name))


@router.post(INFER_PATH, tags=["inference"], responses=INFER_RESPONSES, response_model=InferResponse)
async def infer(body: InferRequest, model: NamedModel, request: Request) -> Response:
    """Open Inference Protocol v2 inference: one tensor [rows, features], or one [rows] per column."""
    return await _infer(body, model, request)


@router.post(VERSION_INFER_PATH, tags=["inference"], responses=INFER_RESPONSES, response_model=InferResponse)
async def infer_version(body: InferRequest, model: VersionedModel, request: Request) -> Response:
    """Inference by one version of the model: the one served (as ``infer``), else 404 naming it."""
    return await _infer(body, model, request)


@router.post(PREDICT_PATH, tags=["inference"], responses=ERROR_RESPONSES, response_model=PredictResponse)
async def predict(body: PredictRequest, request: Request) -> Response:
    """Predict one label (or value) per row of ``instances``: lists in column order, or objects."""
    model = steps.served_model(request.app.state)  # after the body's validation, as a 422 comes first
    matrix = check_predict(body, model, request.app.state.settings.max_rows)
    return _json(predict_content(await steps.predict(request.app.state.batcher, matrix)))


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency by route and status, batch sizes, queue depth."""
    service_metrics: ServiceMetrics = request.app.state.metrics
    body, content_type = service_metrics.exposition()
    return Response(body, media_type=content_type)


# ---------------------------------------------------------------------------------------------
# Errors: every one is {"error": "..."}; bad input is never a 5xx
# ---------------------------------------------------------------------------------------------


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors as one 4xx: 400 for malformed JSON, else 422 naming the problem."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "cannot parse")
        position = first.get("loc", ("body", "?"))[-1]
        return steps.error_response(400, f"malformed JSON at position {position}: {reason}")
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") in {
        "model_attributes_type",
        "dict_type",
    }:
        message = "request body must be a JSON object sent with Content-Type: application/json"
    else:
        model: Model | None = request.app.state.model  # names the columns, once loaded
        message = describe_validation_errors(errors, exc.body, model.signature if model else None)
    return steps.error_response(422, message)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    """An ``HTTPException`` (a step's refusal, or Starlette's 404 and 405) as ``{"error": ...}``."""
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    return steps.refusal(exc)


async def internal_error(_: Request, exc: Exception) -> JSONResponse:
    """Any other exception (a route's or a middleware's) as a JSON 500, not Starlette's plain text.

    Starlette's outermost middleware calls this, then re-raises, so the server still logs the
    traceback; the client gets no detail of it.
    """
    return steps.internal_error(exc)


#: For ``FastAPI(exception_handlers=...)``; ``Exception`` goes to Starlette's outermost middleware.
EXCEPTION_HANDLERS = {
    RequestValidationError: validation_error,
    StarletteHTTPException: http_error,
    Exception: internal_error,
}
