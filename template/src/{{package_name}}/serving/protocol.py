"""The wire format: the request and response bodies of the HTTP API, as pydantic models.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

FastAPI validates the routes' bodies with these (and documents them at /docs); the fast path
parses its numeric-only variants (``NumericInferRequest``, ``NumericPredictRequest``) in one
step. What a body must hold for the served model is checked in ``checks``; answers are built in
``answers``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Strict, Tag

# Strict: JSON true/false and numeric strings are rejected rather than silently turned into 1.0.
Number = Annotated[float, Strict()]
# A value of a table with named, mixed-type columns: a number, a string, a boolean or null (a
# missing value: the checks take it only for a column that training saw missing).
Value = Number | Annotated[str, Strict()] | Annotated[bool, Strict()] | None
# A list stops at its first bad element (pydantic >= 2.8). Otherwise pydantic builds an error per
# bad element (one per union member): 1 MiB of nulls cost 9 s and 590 MiB. Field(), not
# pydantic.FailFast(): annotations inside a union must be hashable.
FAIL_FAST = Field(fail_fast=True)
Row = Annotated[list[Number], FAIL_FAST]
ValueRow = Annotated[list[Value], FAIL_FAST]
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
#: Other names of an output: KServe's own scikit-learn, XGBoost and LightGBM servers name their one
#: output ``output-0``, so its clients ask for that; the answer keeps the name asked for.
OUTPUT_ALIASES = {"output-0": OUTPUT_PREDICT}
#: The server metadata's name of Triton's binary tensor extension, which ``binary`` implements.
BINARY_EXTENSION = "binary_tensor_data"
# Tags name the two shapes `data` may take; they appear in validation-error locations only, and
# ``checks`` leaves them out of its messages.
_FLAT, _ROWS = "flat", "rows"
LAYOUT_TAGS = frozenset({_FLAT, _ROWS})
ROWS_LAYOUT = _ROWS
# Tags name the two forms a /predict row may take, as above.
_LIST, _OBJECT = "list", "object"
ROW_TAGS = frozenset({_LIST, _OBJECT})


def _row_form(value: Any) -> str:
    # An object is a row keyed by column; anything else is read as a list (and refused as one).
    return _OBJECT if isinstance(value, dict) else _LIST


def _data_layout(value: Any) -> str:
    # Decide the layout from the first element so a bad element gets one error, not one per layout.
    return _ROWS if isinstance(value, list) and value and isinstance(value[0], list) else _FLAT


NumericTensorData = Annotated[
    Annotated[Row, Tag(_FLAT)] | Annotated[list[Row], FAIL_FAST, Tag(_ROWS)],
    Discriminator(_data_layout),
]
TensorData = Annotated[
    Annotated[ValueRow, Tag(_FLAT)] | Annotated[list[ValueRow], FAIL_FAST, Tag(_ROWS)],
    Discriminator(_data_layout),
]


PredictRow = Annotated[
    Annotated[ValueRow, Tag(_LIST)] | Annotated[dict[str, Value], Tag(_OBJECT)],
    Discriminator(_row_form),
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
    """One output tensor, ``data`` flat in row-major order.

    Asked for as binary (Triton's binary tensor extension), it has no ``data`` but
    ``parameters.binary_data_size``: its bytes follow the JSON (see ``binary``).
    """

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


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

    instances: Annotated[list[PredictRow], FAIL_FAST]


class NumericPredictRequest(BaseModel):
    """Rows of numbers only: parsed faster, checked the same."""

    instances: Annotated[list[Row], FAIL_FAST]


class PredictResponse(BaseModel):
    """One prediction per row: a class label, or a value for a regressor."""

    predictions: list[Any]


class ErrorResponse(BaseModel):
    """What went wrong, in one sentence."""

    error: str
