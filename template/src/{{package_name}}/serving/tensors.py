"""v2 input tensors: one 2-D tensor ``[rows, features]``, or one ``[rows]`` per column, as a matrix.

Owned by the template: ``copier update`` may replace this file.

``checks.check_infer`` picks the layout; these check a tensor's shape, its data against its
datatype (a refusal names the row and the column) and hand the rows to ``Model.check_features``.
A null passes the datatype check: ``check_features`` takes it where training saw the column missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .artifact import Model
from .features import INTEGER_LIMIT
from .protocol import COLUMN_DATATYPES, INTEGER_DATATYPES, NUMERIC_DATATYPES, InferInput, NumericInferInput
from .refusals import too_many, unprocessable


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _is_integer(value: Any) -> bool:
    if isinstance(value, float):  # NaN and infinity pass here: check_features words their refusal
        return not math.isfinite(value) or (value.is_integer() and abs(value) <= INTEGER_LIMIT)
    return _is_number(value) and abs(value) <= INTEGER_LIMIT


#: Per datatype group, what its values must be and the check of one value.
_DATATYPE_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "numbers": ("numbers", _is_number),
    "integers": ("integers within ±(2**53 - 1)", _is_integer),
    "BOOL": ("true or false", lambda value: isinstance(value, bool)),
    "BYTES": ("strings", lambda value: isinstance(value, str)),
}


def _check_datatype(
    tensor: InferInput | NumericInferInput, values: Sequence[Any], names: Sequence[str]
) -> None:
    """The values of a tensor must be of its datatype (numbers, integers, booleans or strings).

    ``names`` are the tensor's columns (one, or the model's for a 2-D tensor): a refusal names the
    row and the column. A null passes here: ``check_features`` takes it where training had holes.
    """
    datatype = tensor.datatype
    if datatype in NUMERIC_DATATYPES:
        datatype_group = "integers" if datatype in INTEGER_DATATYPES else "numbers"
    else:
        datatype_group = datatype
    rule, ok = _DATATYPE_RULES[datatype_group]
    for index, value in enumerate(values):
        if value is not None and not ok(value):
            row, column = divmod(index, len(names))
            # A column's own tensor is named once, as the column.
            where = "" if list(names) == [tensor.name] else f"input {tensor.name!r}: "
            raise unprocessable(
                f"{where}row {row}: column {names[column]!r} is sent as {datatype}, "
                f"which takes {rule}, not {value!r}"
            )


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
        raise too_many(rows, max_rows)
    if rows == 0:
        raise unprocessable(f"input {name!r} has no rows: send at least one")


def input_matrix(tensor: InferInput | NumericInferInput, model: Model, max_rows: int) -> NDArray[Any]:
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
    _check_datatype(tensor, flat, model.feature_names)
    try:  # None (a hole) becomes NaN: check_features takes it where training had holes
        return model.check_features(np.asarray(flat, dtype=np.float64).reshape(rows, n_features))
    except OverflowError:
        raise unprocessable(f"input {tensor.name!r} holds an integer too large for a float64") from None
    except ValueError as exc:
        raise unprocessable(f"input {tensor.name!r}: {exc}") from None


def column_matrix(
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
        _check_datatype(tensor, values, [column.name])
        columns.append(values)
    try:
        return model.check_features([list(row) for row in zip(*columns, strict=True)])
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
