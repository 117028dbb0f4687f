"""Feature tables: the rows a model is given, checked value by value against its signature.

Owned by the template: ``copier update`` may replace this file.

Every way rows reach the estimator (the service's checks, ``Model.predict`` in a notebook or a
batch job) goes through ``check_features``, so a value is accepted, or refused with a message
naming its column and the rule, by the same code. ``estimator_input`` then hands the estimator
what it was fitted on: the matrix, or a DataFrame with the training columns' dtypes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .signature import Column, Signature, is_missing

#: Largest magnitude a number may have: float32's range (rounded down), which XGBoost and
#: LightGBM read, and which leaves scikit-learn's scalers room before float64 overflows.
VALUE_LIMIT = 3.4e38
#: Largest magnitude an integer may have (JavaScript's safe integer): every integer up to it, and
#: the next, is exact in the float64 that a JSON number becomes.
INTEGER_LIMIT = 2**53 - 1


def check_features(signature: Signature, x: Any) -> NDArray[Any]:
    """Turn ``x`` into the matrix the estimator is given, or say what is wrong.

    Args:
        signature: The model's signature: its columns, in order, and their kinds.
        x: Rows of values in column order (lists, a matrix or a DataFrame with the
            model's columns), shape ``(rows, n_features)``.

    Returns:
        A C-contiguous float64 matrix when every column is numeric, else an object matrix
        whose values have each column's kind.

    Raises:
        ValueError: ``x`` is not a non-empty 2-D table of valid values with ``n_features``
            columns; the message names the column and the rule.
    """
    if hasattr(x, "columns"):  # a DataFrame: take the model's columns, in its order
        missing = [name for name in signature.names if name not in x.columns]
        if missing:
            raise ValueError(f"missing column {missing[0]!r}: the model takes {', '.join(signature.names)}")
        x = x[list(signature.names)].to_numpy(dtype=object)
    if signature.numeric:
        return _numeric(signature, x)
    return _mixed(signature, x)


def estimator_input(signature: Signature, matrix: NDArray[Any]) -> Any:
    """What the estimator is given: the matrix, or a DataFrame like the one it was fitted on."""
    if not signature.frame:
        return matrix
    import pandas as pd  # a DataFrame-fitted estimator was trained with pandas at hand

    data: dict[str, Any] = {}
    for index, column in enumerate(signature.columns):
        values = matrix[:, index]
        if column.categories:
            data[column.name] = pd.Categorical(values, categories=list(column.categories))
        else:
            data[column.name] = pd.Series(values).astype(column.dtype or _PANDAS_DTYPES[column.kind])
    return pd.DataFrame(data)


def _shape_error(signature: Signature, ndim: int, columns: int | None = None) -> ValueError:
    width = len(signature.columns)
    if ndim != 2:
        return ValueError(f"features must be a 2-D matrix (rows, {width}), got {ndim}-D")
    return ValueError(f"each row must have {width} features ({', '.join(signature.names)}), got {columns}")


class RefusedValueError(ValueError):
    """A value the model does not take: its row, its column and what the column takes.

    ``str()`` is the whole sentence (``row 0: column 'age' takes ...``); the service's checks
    name the row their own way (``instances[0]``) from ``row`` and ``text``.
    """

    def __init__(self, row: int, column: str, text: str) -> None:
        super().__init__(f"row {row}: column {column!r} {text}")
        self.row, self.column, self.text = row, column, text


def refusal(column: Column, row: int, value: Any) -> RefusedValueError:
    """The refusal of ``value`` in ``column``: a hole where training had none, or a value not of its kind."""
    if is_missing(value):
        text = f"was never missing in training: send {_ONE_WORDS[column.kind]}"
        return RefusedValueError(row, column.name, text)
    shown = f"{value:g}" if isinstance(value, float) else repr(value)
    allowed = " or null" if column.missing else ""
    return RefusedValueError(row, column.name, f"takes {_KIND_WORDS[column.kind]}{allowed}, not {shown}")


def _numeric(signature: Signature, x: Any) -> NDArray[np.float64]:
    try:
        matrix = np.asarray(x, dtype=np.float64)  # None becomes NaN: checked below, by column
    except (TypeError, ValueError, OverflowError) as exc:
        checked = _mixed(signature, x)  # the value-by-value check names the row, the column and the rule
        try:
            matrix = np.asarray(checked, dtype=np.float64)  # its holes (pd.NA) are NaN by now
        except (TypeError, ValueError):
            raise ValueError(f"features must be numbers in rows of equal length: {exc}") from None
    if matrix.ndim >= 1 and matrix.shape[0] == 0:
        raise ValueError("features hold no rows: send at least one")
    if matrix.ndim != 2:
        raise _shape_error(signature, matrix.ndim)
    if matrix.shape[1] != len(signature.columns):
        raise _shape_error(signature, 2, matrix.shape[1])
    within = np.abs(matrix) <= VALUE_LIMIT  # False for NaN and infinity too
    if not within.all():
        within |= np.isnan(matrix) & np.array([column.missing for column in signature.columns])
    if not within.all():  # NaN where training never had a hole, infinity, or too large
        row, index = (int(i) for i in np.argwhere(~within)[0])
        raise refusal(signature.columns[index], row, float(matrix[row, index]))
    for index, column in enumerate(signature.columns):
        if column.kind != "integer":
            continue
        values = matrix[:, index]
        bad = ~np.isnan(values) & ((values != np.round(values)) | (np.abs(values) > INTEGER_LIMIT))
        if bad.any():
            row = int(np.argmax(bad))
            raise refusal(column, row, float(values[row]))
    return np.ascontiguousarray(matrix)


def _mixed(signature: Signature, x: Any) -> NDArray[Any]:
    rows = x.tolist() if isinstance(x, np.ndarray) else list(x)
    if not rows:
        raise ValueError("features hold no rows: send at least one")
    if not all(isinstance(row, list | tuple) for row in rows):
        raise _shape_error(signature, 1)
    width = len(signature.columns)
    bad = next((len(row) for row in rows if len(row) != width), None)
    if bad is not None:
        raise _shape_error(signature, 2, bad)
    matrix = np.empty((len(rows), width), dtype=object)
    for index, column in enumerate(signature.columns):
        check = _VALUE_CHECKS[column.kind]
        # A hole is NaN for a number (as pandas reads one), None for a string, category or boolean.
        hole = math.nan if column.kind in ("number", "integer") else None
        for row_number, row in enumerate(rows):
            value = row[index]
            if column.missing and is_missing(value):
                matrix[row_number, index] = hole
            elif not check(value):
                raise refusal(column, row_number, value)
            else:
                matrix[row_number, index] = float(value) if column.kind == "number" else value
    return matrix


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return abs(value) <= VALUE_LIMIT  # False for NaN and infinity too
    except OverflowError:  # an integer too large for a float64
        return False


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer() and abs(value) <= INTEGER_LIMIT


_VALUE_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
}
_KIND_WORDS = {
    "number": f"finite numbers within ±{VALUE_LIMIT:g}",
    "integer": "integers within ±(2**53 - 1)",
    "boolean": "true or false",
    "string": "strings",
}
_ONE_WORDS = {
    "number": f"a number within ±{VALUE_LIMIT:g}",
    "integer": "an integer within ±(2**53 - 1)",
    "boolean": "true or false",
    "string": "a string",
}
_PANDAS_DTYPES = {"number": "float64", "integer": "int64", "boolean": "bool", "string": "object"}
