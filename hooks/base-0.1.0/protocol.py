"""The wire format: request and response bodies, their checks, and the answers built from them.

Both ways into the service use these: the FastAPI routes (which also document the API at
/docs) and the fast path for well-formed requests in ``serve``. So a request is checked, and
its answer built, by the same code whichever way it came.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, cast

import numpy as np
from fastapi import HTTPException
from numpy.typing import NDArray
from pydantic import BaseModel, Discriminator, Field, Strict, Tag

from . import __version__
from .batching import Prediction
from .model import Model

# ---------------------------------------------------------------------------------------------
# Request and response bodies
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
# Checks: each raises HTTPException(4xx) naming the problem
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


def unprocessable(message: str) -> HTTPException:
    """A 422 naming what is wrong with a well-formed request."""
    return HTTPException(status_code=422, detail=message)


def label_datatype(labels: NDArray[Any]) -> str:
    """The v2 datatype of an array of labels."""
    kind = labels.dtype.kind
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def labels_to_json(labels: NDArray[Any]) -> list[Any]:
    """Labels as JSON values: numbers stay numbers, anything else becomes a string."""
    return labels.tolist() if labels.dtype.kind in "iufb" else [str(label) for label in labels]


def _input_matrix(tensor: InferInput, model: Model, max_rows: int) -> NDArray[np.float64]:
    """Check one v2 input tensor against the model and return it as a (rows, features) matrix."""
    n_features = model.n_features
    if len(tensor.shape) != 2 or tensor.shape[1] != n_features:
        raise unprocessable(
            f"input {tensor.name!r} has shape {tensor.shape}: expected [rows, {n_features}] "
            f"({n_features} features per row)"
        )
    rows = tensor.shape[0]
    if rows > max_rows:
        raise HTTPException(status_code=413, detail=f"{rows} rows exceed the limit of {max_rows} (MAX_ROWS)")
    if rows == 0:
        raise unprocessable(f"input {tensor.name!r} has no rows: send at least one")
    expected = rows * n_features
    if tensor.data and isinstance(tensor.data[0], list):
        nested = cast(list[list[float]], tensor.data)
        if len(nested) != rows or {len(row) for row in nested} != {n_features}:
            raise unprocessable(
                f"input {tensor.name!r}: nested data must be {rows} rows of {n_features} values to match "
                f"shape {tensor.shape}"
            )
        matrix = np.asarray(nested, dtype=np.float64)
    else:
        if len(tensor.data) != expected:
            raise unprocessable(
                f"input {tensor.name!r}: data has {len(tensor.data)} values but shape {tensor.shape} "
                f"needs {expected}"
            )
        matrix = np.asarray(tensor.data, dtype=np.float64).reshape(rows, n_features)
    if (
        tensor.datatype in INTEGER_DATATYPES
        and np.isfinite(matrix).all()
        and (matrix != np.round(matrix)).any()
    ):
        raise unprocessable(
            f"input {tensor.name!r} is {tensor.datatype} but its data holds non-integer values"
        )
    try:
        return model.check_features(matrix)
    except ValueError as exc:
        raise unprocessable(f"input {tensor.name!r}: {exc}") from None


def check_infer(body: InferRequest, model: Model, max_rows: int) -> tuple[NDArray[np.float64], list[str]]:
    """Check a v2 inference request against the model.

    Args:
        body: The parsed request.
        model: The served model.
        max_rows: Most rows accepted (``MAX_ROWS``).

    Returns:
        The input as a float64 matrix ``(rows, n_features)``, and the names of the outputs
        asked for (``predict`` when none are).

    Raises:
        HTTPException: 413 for too many rows, 422 for anything else wrong, naming it.
    """
    if len(body.inputs) != 1:
        raise unprocessable(f"expected exactly one input tensor, got {len(body.inputs)}")
    available = [OUTPUT_PREDICT, OUTPUT_PROBA] if model.has_proba else [OUTPUT_PREDICT]
    wanted = [output.name for output in body.outputs or []] or [OUTPUT_PREDICT]
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise unprocessable(f"unknown output {unknown[0]!r}: this model offers {', '.join(available)}")
    return _input_matrix(body.inputs[0], model, max_rows), wanted


def infer_content(
    body: InferRequest, wanted: Sequence[str], prediction: Prediction, model_name: str
) -> dict[str, Any]:
    """The v2 inference response for ``body``, as plain JSON-ready values.

    Args:
        body: The request (for its ``id``).
        wanted: Output names, as ``check_infer`` returned them.
        prediction: The model's answer for the request's rows.
        model_name: The served model's name.

    Returns:
        The ``InferResponse`` fields; a new id when the request had none.
    """
    outputs = []
    for name in wanted:
        if name == OUTPUT_PREDICT:
            labels = prediction.labels
            outputs.append(
                {
                    "name": name,
                    "shape": [len(labels)],
                    "datatype": label_datatype(labels),
                    "data": labels_to_json(labels),
                }
            )
        else:
            proba = cast(NDArray[np.float64], prediction.proba)
            outputs.append(
                {"name": name, "shape": list(proba.shape), "datatype": "FP64", "data": proba.ravel().tolist()}
            )
    return {
        "model_name": model_name,
        "model_version": __version__,
        "id": body.id or uuid.uuid4().hex,
        "outputs": outputs,
    }


def check_predict(body: PredictRequest, model: Model, max_rows: int) -> NDArray[np.float64]:
    """Check a ``/predict`` request against the model.

    Args:
        body: The parsed request.
        model: The served model.
        max_rows: Most rows accepted (``MAX_ROWS``).

    Returns:
        The instances as a float64 matrix ``(rows, n_features)``.

    Raises:
        HTTPException: 413 for too many rows, 422 for anything else wrong, naming it.
    """
    if len(body.instances) > max_rows:
        raise HTTPException(
            status_code=413, detail=f"{len(body.instances)} rows exceed the limit of {max_rows} (MAX_ROWS)"
        )
    if not body.instances:
        raise unprocessable("instances holds no rows: send at least one")
    lengths = {len(row) for row in body.instances}
    if lengths != {model.n_features}:
        bad = next(length for length in sorted(lengths) if length != model.n_features)
        raise unprocessable(f"each instance must have {model.n_features} features, got a row of {bad}")
    try:
        return model.check_features(body.instances)
    except ValueError as exc:
        raise unprocessable(f"instances: {exc}") from None


def predict_content(prediction: Prediction) -> dict[str, Any]:
    """The ``/predict`` response: one label per row."""
    return {"predictions": labels_to_json(prediction.labels)}


def model_metadata(model: Model, model_name: str) -> ModelMetadata:
    """The v2 metadata of ``model`` served as ``model_name`` (built once, at start-up)."""
    outputs = [TensorMetadata(name=OUTPUT_PREDICT, datatype=label_datatype(model.classes), shape=[-1])]
    if model.has_proba:
        outputs.append(TensorMetadata(name=OUTPUT_PROBA, datatype="FP64", shape=[-1, len(model.classes)]))
    return ModelMetadata(
        name=model_name,
        versions=[__version__],
        platform="scikit-learn",
        inputs=[TensorMetadata(name="input-0", datatype="FP64", shape=[-1, model.n_features])],
        outputs=outputs,
        parameters={
            "feature_names": list(model.feature_names),
            "classes": labels_to_json(model.classes),
            "class_names": list(model.class_names),
        },
    )
