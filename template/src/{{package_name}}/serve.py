"""HTTP inference service: Open Inference Protocol (v2) routes plus a simple ``/predict``.

Run ``python -m <package>.serve``; settings come from environment variables (see
``config.Settings``). The model is loaded once at start-up; every route then only validates its
input and calls the model. Bad input always gets a 4xx with ``{"error": "<what is wrong>"}``:

* 400 malformed JSON or an invalid ``Content-Length``;
* 404 unknown model name or route;
* 413 body larger than ``MAX_REQUEST_BYTES`` or more rows than ``MAX_ROWS``;
* 422 well-formed JSON that is not a valid request (wrong fields, shape, feature count, types,
  non-finite numbers, no rows);
* 503 (not a client error) while the model is not loaded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, cast

import numpy as np
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from numpy.typing import NDArray
from pydantic import BaseModel, Discriminator, Field, Strict, Tag
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .config import Settings
from .model import Model, load_model

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Request and response bodies (they also document the API at /docs)
# ---------------------------------------------------------------------------------------------

# Strict: JSON true/false and numeric strings are rejected rather than silently turned into 1.0.
Number = Annotated[float, Strict()]
Row = list[Number]
Dim = Annotated[int, Strict(), Field(ge=0)]
Datatype = Literal[
    "FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8"
]
INTEGER_DATATYPES = frozenset({"INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8"})
OUTPUT_PREDICT = "predict"
OUTPUT_PROBA = "predict_proba"
# Tags name the two shapes `data` may take; they appear in validation-error locations only.
_FLAT, _ROWS = "flat", "rows"


def _data_layout(value: Any) -> str:
    # Decide the layout from the first element so a bad element gets one error, not one per layout.
    return _ROWS if isinstance(value, list) and value and isinstance(value[0], list) else _FLAT


TensorData = Annotated[
    Annotated[list[Number], Tag(_FLAT)] | Annotated[list[Row], Tag(_ROWS)],
    Discriminator(_data_layout),
]


class InferInput(BaseModel):
    """One input tensor: ``data`` flat in row-major order, or nested as rows."""

    name: str
    shape: list[Dim]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: TensorData


class RequestedOutput(BaseModel):
    """An output the client asks for by name."""

    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """Open Inference Protocol v2 inference request."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None


class InferOutput(BaseModel):
    """One output tensor, ``data`` flat in row-major order."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferResponse(BaseModel):
    """Open Inference Protocol v2 inference response."""

    model_name: str
    model_version: str | None = None
    id: str
    outputs: list[InferOutput]


class TensorMetadata(BaseModel):
    """Name, datatype and shape of a model input or output (-1 means any size)."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """Open Inference Protocol v2 model metadata."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any]


class ServerMetadata(BaseModel):
    """Open Inference Protocol v2 server metadata."""

    name: str
    version: str
    extensions: list[str]


class PredictRequest(BaseModel):
    """Rows of feature values."""

    instances: list[Row]


class PredictResponse(BaseModel):
    """One predicted label per row."""

    predictions: list[Any]


class ErrorResponse(BaseModel):
    """What went wrong, in one sentence."""

    error: str


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
        declared = dict(scope.get("headers") or ()).get(b"content-length")
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
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int | None) -> str:
        body = "request body" if size is None else f"request body of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes (MAX_REQUEST_BYTES)"

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, status: int, error: str) -> None:
        await JSONResponse({"error": error}, status_code=status)(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# Errors: every one is {"error": "..."}; bad input is never a 5xx
# ---------------------------------------------------------------------------------------------


def _where(loc: Sequence[Any]) -> str:
    parts = [part for part in loc if part not in (_FLAT, _ROWS)]
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return text.lstrip(".") or "request body"


def describe_validation_errors(errors: Sequence[Mapping[str, Any]], limit: int = 3) -> str:
    """One readable sentence from pydantic/FastAPI validation errors.

    Args:
        errors: The errors, as ``RequestValidationError.errors()`` returns them.
        limit: How many to spell out; the rest are counted.

    Returns:
        E.g. ``"inputs[0].data[2]: Input should be a valid number"``.
    """
    parts = [f"{_where(err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more problems")
    return "; ".join(parts) or "invalid request"


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


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 404, 413, 422, 503)
}
router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _loaded_model(request: Request) -> Model:
    model: Model | None = request.app.state.model
    if model is None:
        raise HTTPException(
            status_code=503, detail="model is not loaded yet: retry when /v2/health/ready is 200"
        )
    return model


def _named_model(model_name: str, request: Request) -> Model:
    served = _settings(request).model_name
    if model_name != served:
        raise HTTPException(
            status_code=404, detail=f"model {model_name!r} not found: this server serves {served!r}"
        )
    return _loaded_model(request)


NamedModel = Annotated[Model, Depends(_named_model)]


def _label_datatype(labels: NDArray[Any]) -> str:
    kind = labels.dtype.kind
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def _labels_to_json(labels: NDArray[Any]) -> list[Any]:
    return labels.tolist() if labels.dtype.kind in "iufb" else [str(label) for label in labels]


def _input_matrix(tensor: InferInput, model: Model, max_rows: int) -> NDArray[np.float64]:
    """Check one v2 input tensor against the model and return it as a (rows, features) matrix."""
    n_features = model.n_features
    if len(tensor.shape) != 2 or tensor.shape[1] != n_features:
        raise _unprocessable(
            f"input {tensor.name!r} has shape {tensor.shape}: expected [rows, {n_features}] "
            f"({n_features} features per row)"
        )
    rows = tensor.shape[0]
    if rows > max_rows:
        raise HTTPException(status_code=413, detail=f"{rows} rows exceed the limit of {max_rows} (MAX_ROWS)")
    if rows == 0:
        raise _unprocessable(f"input {tensor.name!r} has no rows: send at least one")
    expected = rows * n_features
    if tensor.data and isinstance(tensor.data[0], list):
        nested = cast(list[list[float]], tensor.data)
        if len(nested) != rows or {len(row) for row in nested} != {n_features}:
            raise _unprocessable(
                f"input {tensor.name!r}: nested data must be {rows} rows of {n_features} values to match "
                f"shape {tensor.shape}"
            )
        matrix = np.asarray(nested, dtype=np.float64)
    else:
        if len(tensor.data) != expected:
            raise _unprocessable(
                f"input {tensor.name!r}: data has {len(tensor.data)} values but shape {tensor.shape} "
                f"needs {expected}"
            )
        matrix = np.asarray(tensor.data, dtype=np.float64).reshape(rows, n_features)
    if (
        tensor.datatype in INTEGER_DATATYPES
        and np.isfinite(matrix).all()
        and (matrix != np.round(matrix)).any()
    ):
        raise _unprocessable(
            f"input {tensor.name!r} is {tensor.datatype} but its data holds non-integer values"
        )
    try:
        return model.check_features(matrix)
    except ValueError as exc:
        raise _unprocessable(f"input {tensor.name!r}: {exc}") from None


@router.get("/v2/health/live", tags=["health"])
async def live() -> dict[str, bool]:
    """Liveness: 200 while the process runs."""
    # async and trivial: answered on the event loop, so probes never queue behind predictions.
    return {"live": True}


@router.get("/v2/health/ready", tags=["health"], responses={503: {"model": ErrorResponse}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 once the model is loaded, else 503."""
    if request.app.state.model is None:
        return JSONResponse({"ready": False, "error": "model is not loaded yet"}, status_code=503)
    return JSONResponse({"ready": True})


@router.get("/v2", tags=["metadata"])
async def server_metadata(settings: Annotated[Settings, Depends(_settings)]) -> ServerMetadata:
    """Server metadata."""
    return ServerMetadata(name=settings.model_name, version=__version__, extensions=[])


@router.get("/v2/models/{model_name}", tags=["metadata"], responses=ERROR_RESPONSES)
async def model_metadata(request: Request, model: NamedModel) -> ModelMetadata:
    """Model metadata: input and output tensors, feature and class names."""
    metadata: ModelMetadata = request.app.state.model_metadata
    return metadata


@router.get("/v2/models/{model_name}/ready", tags=["health"], responses=ERROR_RESPONSES)
async def model_ready(model_name: str, model: NamedModel) -> dict[str, Any]:
    """Model readiness: 200 when this model is loaded, 404 for another name, 503 before loading."""
    return {"name": model_name, "ready": True}


# Plain `def`: FastAPI runs it in a worker thread, so CPU-bound prediction never blocks the event
# loop that answers health probes.
@router.post("/v2/models/{model_name}/infer", tags=["inference"], responses=ERROR_RESPONSES)
def infer(
    body: InferRequest, model: NamedModel, settings: Annotated[Settings, Depends(_settings)]
) -> InferResponse:
    """Open Inference Protocol v2 inference: one FP/INT tensor of shape [rows, features] in."""
    if len(body.inputs) != 1:
        raise _unprocessable(f"expected exactly one input tensor, got {len(body.inputs)}")
    available = [OUTPUT_PREDICT, OUTPUT_PROBA] if model.has_proba else [OUTPUT_PREDICT]
    wanted = [output.name for output in body.outputs or []] or [OUTPUT_PREDICT]
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise _unprocessable(f"unknown output {unknown[0]!r}: this model offers {', '.join(available)}")
    matrix = _input_matrix(body.inputs[0], model, settings.max_rows)
    rows = matrix.shape[0]
    outputs = []
    for name in wanted:
        if name == OUTPUT_PREDICT:
            labels = model.predict(matrix)
            outputs.append(
                InferOutput(
                    name=name, shape=[rows], datatype=_label_datatype(labels), data=_labels_to_json(labels)
                )
            )
        else:
            proba = model.predict_proba(matrix)
            outputs.append(
                InferOutput(name=name, shape=list(proba.shape), datatype="FP64", data=proba.ravel().tolist())
            )
    return InferResponse(
        model_name=settings.model_name,
        model_version=__version__,
        id=body.id or uuid.uuid4().hex,
        outputs=outputs,
    )


@router.post("/predict", tags=["inference"], responses=ERROR_RESPONSES)
def predict(body: PredictRequest, request: Request) -> PredictResponse:
    """Predict one label per row of ``instances``."""
    model = _loaded_model(request)
    settings = _settings(request)
    if len(body.instances) > settings.max_rows:
        raise HTTPException(
            status_code=413,
            detail=f"{len(body.instances)} rows exceed the limit of {settings.max_rows} (MAX_ROWS)",
        )
    if not body.instances:
        raise _unprocessable("instances holds no rows: send at least one")
    lengths = {len(row) for row in body.instances}
    if lengths != {model.n_features}:
        bad = next(length for length in sorted(lengths) if length != model.n_features)
        raise _unprocessable(f"each instance must have {model.n_features} features, got a row of {bad}")
    try:
        matrix = model.check_features(body.instances)
    except ValueError as exc:
        raise _unprocessable(f"instances: {exc}") from None
    labels = model.predict(matrix)
    return PredictResponse(predictions=_labels_to_json(labels))


# ---------------------------------------------------------------------------------------------
# Application
# ---------------------------------------------------------------------------------------------


def _model_metadata(model: Model, settings: Settings) -> ModelMetadata:
    # Built once at start-up: the metadata route then only returns it.
    outputs = [TensorMetadata(name=OUTPUT_PREDICT, datatype=_label_datatype(model.classes), shape=[-1])]
    if model.has_proba:
        outputs.append(TensorMetadata(name=OUTPUT_PROBA, datatype="FP64", shape=[-1, len(model.classes)]))
    classes = _labels_to_json(model.classes)
    return ModelMetadata(
        name=settings.model_name,
        versions=[__version__],
        platform="scikit-learn",
        inputs=[TensorMetadata(name="input-0", datatype="FP64", shape=[-1, model.n_features])],
        outputs=outputs,
        parameters={
            "feature_names": list(model.feature_names),
            "classes": classes,
            "class_names": list(model.class_names),
        },
    )


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
        yield

    app = FastAPI(
        title=f"{settings.model_name} inference service",
        version=__version__,
        description="Open Inference Protocol (v2) and a simple /predict route for the model.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model = None
    if model is not None:
        _install_model(app, model, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(router)
    return app


def _install_model(app: FastAPI, model: Model, settings: Settings) -> None:
    app.state.model_metadata = _model_metadata(model, settings)
    app.state.model = model  # set last: readiness flips only when everything is in place


#: The service, configured from the environment (``uvicorn <package>.serve:app`` works too).
app = create_app()


def main() -> None:
    """Run the service with uvicorn on ``HOST``:``PORT`` (default 0.0.0.0:8080)."""
    settings: Settings = app.state.settings
    level = logging.DEBUG if settings.log_level == "trace" else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One process per container: scale with replicas, not workers. uvicorn's access log gives
    # the one line per request; no server header so the stack is not advertised.
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, server_header=False
    )


if __name__ == "__main__":
    main()
