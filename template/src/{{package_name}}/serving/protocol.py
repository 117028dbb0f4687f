"""The wire format: request and response bodies, their checks, and the answers built from them.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Both ways into the service use these: the FastAPI routes (which also document the API at
/docs) and the fast path for well-formed requests in ``serve``. So a request is checked, and
its answer built, by the same code whichever way it came.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, cast

import numpy as np
from fastapi import HTTPException
from numpy.typing import NDArray
from pydantic import BaseModel, Discriminator, Field, Strict, Tag

from .. import __version__
from .artifact import Model
from .batching import Prediction
from .features import INTEGER_LIMIT

# ---------------------------------------------------------------------------------------------
# Request and response bodies
# ---------------------------------------------------------------------------------------------

# Strict: JSON true/false and numeric strings are rejected rather than silently turned into 1.0.
Number = Annotated[float, Strict()]
# A value of a table with named, mixed-type columns: a number, a string or a boolean.
Value = Number | Annotated[str, Strict()] | Annotated[bool, Strict()]
Row = list[Number]
Dim = Annotated[int, Strict(), Field(ge=0)]
Datatype = Literal[
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "UINT64",
    "UINT32",
    "UINT16",
    "UINT8",
    "BOOL",
    "BYTES",
]
INTEGER_DATATYPES = frozenset({"INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8"})
NUMERIC_DATATYPES = INTEGER_DATATYPES | {"FP64", "FP32", "FP16"}
#: The datatypes a column of each kind accepts.
COLUMN_DATATYPES = {
    "number": NUMERIC_DATATYPES,
    "integer": NUMERIC_DATATYPES,
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
}
OUTPUT_PREDICT = "predict"
OUTPUT_PROBA = "predict_proba"
# Tags name the two shapes `data` may take; they appear in validation-error locations only.
_FLAT, _ROWS = "flat", "rows"


def _data_layout(value: Any) -> str:
    # Decide the layout from the first element so a bad element gets one error, not one per layout.
    return _ROWS if isinstance(value, list) and value and isinstance(value[0], list) else _FLAT


NumericTensorData = Annotated[
    Annotated[list[Number], Tag(_FLAT)] | Annotated[list[Row], Tag(_ROWS)],
    Discriminator(_data_layout),
]
TensorData = Annotated[
    Annotated[list[Value], Tag(_FLAT)] | Annotated[list[list[Value]], Tag(_ROWS)],
    Discriminator(_data_layout),
]


class NumericInferInput(BaseModel):
    """One numeric input tensor (the fast path's shape of the common request)."""

    name: str
    shape: list[Dim]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: NumericTensorData


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
    """Open Inference Protocol v2 inference request: one 2-D tensor, or one tensor per column."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None


class NumericInferRequest(BaseModel):
    """A v2 request of numeric tensors only: parsed faster, checked the same."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[NumericInferInput]
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
    """Rows of feature values: lists in column order, or objects keyed by column name."""

    instances: list[list[Value] | dict[str, Value]]


class NumericPredictRequest(BaseModel):
    """Rows of numbers only: parsed faster, checked the same."""

    instances: list[Row]


class PredictResponse(BaseModel):
    """One prediction per row: a class label, or a value for a regressor."""

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


def _too_many(rows: int, max_rows: int) -> HTTPException:
    return HTTPException(status_code=413, detail=f"{rows} rows exceed the limit of {max_rows} (MAX_ROWS)")


def _check_datatype(tensor: InferInput | NumericInferInput, values: Sequence[Any]) -> None:
    """The values of a tensor must be of its datatype (numbers, integers, booleans or strings)."""
    datatype = tensor.datatype
    if datatype in NUMERIC_DATATYPES:
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            raise unprocessable(f"input {tensor.name!r} is {datatype}: its data must be numbers")
        if datatype in INTEGER_DATATYPES and any(
            isinstance(v, float) and math.isfinite(v) and not v.is_integer() for v in values
        ):
            raise unprocessable(f"input {tensor.name!r} is {datatype} but its data holds non-integer values")
        if datatype in INTEGER_DATATYPES and any(abs(v) > INTEGER_LIMIT for v in values):
            raise unprocessable(
                f"input {tensor.name!r} is {datatype}: its integers must be within ±(2**53 - 1)"
            )
    elif datatype == "BOOL" and not all(isinstance(v, bool) for v in values):
        raise unprocessable(f"input {tensor.name!r} is BOOL: its data must be true or false")
    elif datatype == "BYTES" and not all(isinstance(v, str) for v in values):
        raise unprocessable(f"input {tensor.name!r} is BYTES: its data must be strings")


def _flat(tensor: InferInput | NumericInferInput, rows: int, width: int) -> list[Any]:
    """The tensor's data, flat in row-major order, once its layout matches ``[rows, width]``."""
    if tensor.data and isinstance(tensor.data[0], list):
        nested = cast(list[list[Any]], tensor.data)
        if len(nested) != rows or {len(row) for row in nested} != {width}:
            raise unprocessable(
                f"input {tensor.name!r}: nested data must be {rows} rows of {width} values to match "
                f"shape {tensor.shape}"
            )
        return [value for row in nested for value in row]
    flat = cast(list[Any], tensor.data)
    if len(flat) != rows * width:
        raise unprocessable(
            f"input {tensor.name!r}: data has {len(flat)} values but shape {tensor.shape} "
            f"needs {rows * width}"
        )
    return flat


def _check_rows(name: str, rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise _too_many(rows, max_rows)
    if rows == 0:
        raise unprocessable(f"input {name!r} has no rows: send at least one")


def _input_matrix(tensor: InferInput | NumericInferInput, model: Model, max_rows: int) -> NDArray[Any]:
    """Check one 2-D v2 input tensor against the model and return it as a (rows, features) matrix."""
    n_features = model.n_features
    if not model.signature.numeric:
        raise unprocessable(
            f"this model takes one input per column ({', '.join(model.feature_names)}), "
            f"each of shape [rows]; got one input {tensor.name!r}"
        )
    if len(tensor.shape) != 2 or tensor.shape[1] != n_features:
        raise unprocessable(
            f"input {tensor.name!r} has shape {tensor.shape}: expected [rows, {n_features}] "
            f"({n_features} features per row)"
        )
    rows = tensor.shape[0]
    _check_rows(tensor.name, rows, max_rows)
    flat = _flat(tensor, rows, n_features)
    _check_datatype(tensor, flat)
    try:
        return model.check_features(np.asarray(flat, dtype=np.float64).reshape(rows, n_features))
    except OverflowError:
        raise unprocessable(f"input {tensor.name!r} holds an integer too large for a float64") from None
    except ValueError as exc:
        raise unprocessable(f"input {tensor.name!r}: {exc}") from None


def _column_matrix(
    inputs: Sequence[InferInput | NumericInferInput], model: Model, max_rows: int
) -> NDArray[Any]:
    """Check one v2 input per column (as MLServer's pandas codec sends them) and join them."""
    by_name = {tensor.name: tensor for tensor in inputs}
    columns: list[list[Any]] = []
    rows = inputs[0].shape[0] if inputs[0].shape else 0
    for column in model.signature.columns:
        tensor = by_name[column.name]
        if len(tensor.shape) not in (1, 2) or tensor.shape[1:] not in ([], [1]) or tensor.shape[0] != rows:
            raise unprocessable(
                f"input {tensor.name!r} has shape {tensor.shape}: every column input must be [{rows}] "
                f"(or [{rows}, 1])"
            )
        if tensor.datatype not in COLUMN_DATATYPES[column.kind]:
            raise unprocessable(
                f"input {tensor.name!r} is {tensor.datatype}: column {column.name!r} holds "
                f"{column.kind} values ({column.datatype})"
            )
        _check_rows(tensor.name, rows, max_rows)
        values = _flat(tensor, rows, 1)
        _check_datatype(tensor, values)
        columns.append(values)
    try:
        return model.check_features([list(row) for row in zip(*columns, strict=True)])
    except ValueError as exc:
        raise unprocessable(str(exc)) from None


def check_infer(
    body: InferRequest | NumericInferRequest, model: Model, max_rows: int
) -> tuple[NDArray[Any], list[str]]:
    """Check a v2 inference request against the model.

    Args:
        body: The parsed request: one 2-D tensor ``[rows, features]`` (numeric models), or one
            tensor ``[rows]`` per column, named as the columns.
        model: The served model.
        max_rows: Most rows accepted (``MAX_ROWS``).

    Returns:
        The input as a matrix ``(rows, n_features)``, and the names of the outputs asked for
        (``predict`` when none are).

    Raises:
        HTTPException: 413 for too many rows, 422 for anything else wrong, naming it.
    """
    available = [OUTPUT_PREDICT, OUTPUT_PROBA] if model.has_proba else [OUTPUT_PREDICT]
    wanted = [output.name for output in body.outputs or []] or [OUTPUT_PREDICT]
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise unprocessable(f"unknown output {unknown[0]!r}: this model offers {', '.join(available)}")
    names = [tensor.name for tensor in body.inputs]
    per_column = sorted(names) == sorted(model.feature_names) and (
        model.n_features > 1 or len(body.inputs[0].shape) == 1
    )
    if per_column:
        return _column_matrix(body.inputs, model, max_rows), wanted
    if len(body.inputs) != 1:
        raise unprocessable(
            f"expected exactly one input tensor [rows, {model.n_features}], or one per column "
            f"({', '.join(model.feature_names)}); got {len(body.inputs)}: {', '.join(names) or 'none'}"
        )
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


def _ordered(row: Mapping[str, Any], names: Sequence[str], number: int) -> list[Any]:
    """A row given as an object, as a list in column order; missing or unknown names are refused."""
    missing = [name for name in names if name not in row]
    if missing:
        raise unprocessable(f"instances[{number}] has no {missing[0]!r}: every row needs {', '.join(names)}")
    unknown = [name for name in row if name not in names]
    if unknown:
        raise unprocessable(
            f"instances[{number}] has unknown column {unknown[0]!r}: the model takes {', '.join(names)}"
        )
    return [row[name] for name in names]


def check_predict(body: PredictRequest | NumericPredictRequest, model: Model, max_rows: int) -> NDArray[Any]:
    """Check a ``/predict`` request against the model.

    Args:
        body: The parsed request: rows as lists in column order, or as objects keyed by column.
        model: The served model.
        max_rows: Most rows accepted (``MAX_ROWS``).

    Returns:
        The instances as a matrix ``(rows, n_features)``.

    Raises:
        HTTPException: 413 for too many rows, 422 for anything else wrong, naming it.
    """
    instances = body.instances
    if len(instances) > max_rows:
        raise _too_many(len(instances), max_rows)
    if not instances:
        raise unprocessable("instances holds no rows: send at least one")
    names = model.feature_names
    rows = [_ordered(row, names, n) if isinstance(row, dict) else row for n, row in enumerate(instances)]
    lengths = {len(row) for row in rows}
    if lengths != {model.n_features}:
        bad = next(length for length in sorted(lengths) if length != model.n_features)
        raise unprocessable(f"each instance must have {model.n_features} features, got a row of {bad}")
    if isinstance(body, PredictRequest) and model.signature.numeric:
        _refuse_booleans(rows, model.feature_names)
    try:
        return model.check_features(rows)
    except ValueError as exc:
        raise unprocessable(f"instances: {exc}") from None


def _refuse_booleans(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> None:
    """A numeric model's rows hold numbers: JSON true/false is not 1/0 (the fast path never has them)."""
    for number, row in enumerate(rows):
        for name, value in zip(names, row, strict=True):
            if isinstance(value, bool):
                raise unprocessable(f"instances[{number}]: column {name!r} takes numbers, got {value!r}")


def model_refused(exc: ValueError) -> HTTPException:
    """A 422 for rows the model itself cannot score (its ``predict`` raised ``ValueError``)."""
    return unprocessable(f"the model cannot score these rows: {exc}")


def predict_content(prediction: Prediction) -> dict[str, Any]:
    """The ``/predict`` response: one label (or value) per row."""
    return {"predictions": labels_to_json(prediction.labels)}


def platform_of(estimator: Any) -> str:
    """The library behind ``estimator`` (its final step's, for a pipeline): scikit-learn, xgboost, ..."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    library = type(final).__module__.split(".")[0]
    return "scikit-learn" if library == "sklearn" else library


def model_metadata(model: Model, model_name: str) -> ModelMetadata:
    """The v2 metadata of ``model`` served as ``model_name`` (built once, at start-up).

    ``parameters`` carry the whole signature, so a client (the chart's test pod, CI smoke
    steps, dsdeploy) can build a valid request, and know its answer, from this alone.
    """
    signature = model.signature
    label_type = label_datatype(model.classes) if signature.task == "classification" else "FP64"
    outputs = [TensorMetadata(name=OUTPUT_PREDICT, datatype=label_type, shape=[-1])]
    if model.has_proba:
        outputs.append(TensorMetadata(name=OUTPUT_PROBA, datatype="FP64", shape=[-1, len(model.classes)]))
    if signature.numeric:
        inputs = [TensorMetadata(name="input-0", datatype="FP64", shape=[-1, model.n_features])]
    else:
        inputs = [TensorMetadata(name=c.name, datatype=c.datatype, shape=[-1]) for c in signature.columns]
    return ModelMetadata(
        name=model_name,
        versions=[__version__],
        platform=platform_of(model.estimator),
        inputs=inputs,
        outputs=outputs,
        parameters={
            **signature.to_dict(),
            "feature_names": list(model.feature_names),
        },
    )
