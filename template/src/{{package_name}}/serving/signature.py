"""The model's signature: what the service accepts and answers, derived once, at training time.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Training writes it inside the artifact and beside it as ``signature.json``: the input columns
(names, kinds, and whether training saw them missing: only there is a null taken), the task
(classification with its classes, or regression) and an example request (held-out rows with the
model's own answers); the file also records the artifact's SHA-256 (``integrity``). The service's
metadata and checks, the tests, ``helm test``, the CI smoke steps and ``make smoke`` all read it,
so none of them hard-codes a row of the example data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from sklearn.base import is_classifier

from .integrity import ARTIFACT_KEY, SIGNATURE_FILE, write_json

ColumnKind = Literal["number", "integer", "boolean", "string"]
Task = Literal["classification", "regression"]
EXAMPLE_ROWS = 3  # rows in the example request: enough to show the shape, cheap to send
#: The Open Inference Protocol datatype of each column kind.
DATATYPES: Mapping[ColumnKind, str] = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
}


@dataclass(frozen=True)
class Column:
    """One input column.

    Attributes:
        name: The column name (a DataFrame's column, or ``x0``, ``x1``, ... for a matrix).
        kind: What values it takes: number, integer, boolean or string.
        dtype: The pandas dtype the estimator was fitted with (``float64``, ``category``, ...);
            empty for a model fitted on a plain matrix.
        categories: For a ``category`` column, its categories in order.
        missing: Whether training saw missing values in it (NaN, None, ``pd.NA``): only then does
            the service take a JSON ``null`` (or an absent key) for it.
    """

    name: str
    kind: ColumnKind
    dtype: str = ""
    categories: tuple[Any, ...] = ()
    missing: bool = False

    @property
    def datatype(self) -> str:
        """The column's v2 datatype (FP64, INT64, BOOL or BYTES)."""
        return DATATYPES[self.kind]


@dataclass(frozen=True)
class Signature:
    """What the model takes and gives.

    Attributes:
        task: ``classification`` or ``regression``.
        columns: The input columns, in the order rows list their values.
        frame: Whether the estimator was fitted on a pandas DataFrame (and so is given one).
        classes: For a classifier, the labels ``predict`` returns, as JSON values.
        class_names: Human names of the classes, in ``classes`` order (may be empty).
        example_rows: A few held-out rows, values in column order.
        example_predictions: The model's own answers for ``example_rows``.
    """

    task: Task
    columns: tuple[Column, ...]
    frame: bool = False
    classes: tuple[Any, ...] = ()
    class_names: tuple[str, ...] = ()
    example_rows: tuple[tuple[Any, ...], ...] = ()
    example_predictions: tuple[Any, ...] = field(default=())

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(column.name for column in self.columns)

    @cached_property
    def numeric(self) -> bool:
        """Whether every column is a number (so one 2-D FP64 tensor carries a request)."""
        return all(column.kind in ("number", "integer") for column in self.columns)

    def to_dict(self) -> dict[str, Any]:
        """The signature as JSON-ready values (the form of ``signature.json``)."""
        return {
            "task": self.task,
            "columns": [
                {"name": c.name, "kind": c.kind, "datatype": c.datatype, "dtype": c.dtype}
                | {"missing": c.missing}
                | ({"categories": list(c.categories)} if c.categories else {})
                for c in self.columns
            ],
            "frame": self.frame,
            "classes": list(self.classes),
            "class_names": list(self.class_names),
            "example": {
                "instances": [list(row) for row in self.example_rows],
                "predictions": list(self.example_predictions),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read a signature written by ``to_dict``.

        Raises:
            ValueError: ``data`` is not a signature; the message names the missing field, or the
                column of an unknown kind.
        """
        try:
            for column in data["columns"]:
                if column["kind"] not in DATATYPES:
                    raise ValueError(
                        f"not a model signature: column {column['name']!r} has kind {column['kind']!r}, "
                        f"not one of {', '.join(DATATYPES)}"
                    )
            example = data.get("example") or {}
            return cls(
                task=cast(Task, data["task"]),
                columns=tuple(
                    Column(
                        name=str(c["name"]),
                        kind=cast(ColumnKind, c["kind"]),
                        dtype=str(c.get("dtype", "")),
                        categories=tuple(c.get("categories", ())),
                        missing=bool(c.get("missing", False)),  # signatures before it never had them
                    )
                    for c in data["columns"]
                ),
                frame=bool(data.get("frame", False)),
                classes=tuple(data.get("classes", ())),
                class_names=tuple(str(name) for name in data.get("class_names", ())),
                example_rows=tuple(tuple(row) for row in example.get("instances", ())),
                example_predictions=tuple(example.get("predictions", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a model signature: missing or malformed {exc}") from None

    def write(self, folder: Path, *, artifact: Mapping[str, str] | None = None) -> Path:
        """Write ``signature.json`` into ``folder`` atomically, ``artifact`` (its name and SHA-256) in it."""
        path = folder / SIGNATURE_FILE
        write_json(path, self.to_dict() | ({ARTIFACT_KEY: dict(artifact)} if artifact else {}))
        return path


def _kind(dtype: Any) -> ColumnKind:
    # numpy and pandas dtypes alike carry a one-letter kind; a category column is read by its
    # categories (strings, or numbers).
    categories = getattr(dtype, "categories", None)
    kind = np.asarray(categories).dtype.kind if categories is not None else getattr(dtype, "kind", "O")
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer"
    if kind == "f":
        return "number"
    return "string"


def _columns(estimator: Any, x: Any, feature_names: Sequence[str]) -> tuple[tuple[Column, ...], bool]:
    """The columns of ``x`` (a DataFrame or a matrix) and whether it is a DataFrame."""
    dtypes = getattr(x, "dtypes", None)
    if dtypes is not None and hasattr(x, "columns"):
        columns = []
        for name, dtype in zip(x.columns, dtypes, strict=True):
            categories = getattr(dtype, "categories", None)
            listed = tuple(to_json_values(list(categories))) if categories is not None else ()
            missing = bool(x[name].isna().any())
            columns.append(Column(str(name), _kind(dtype), str(dtype), listed, missing))
        return tuple(columns), True
    matrix = np.asarray(x)
    names = getattr(estimator, "feature_names_in_", None)
    count = matrix.shape[1] if matrix.ndim == 2 else int(getattr(estimator, "n_features_in_", 0))
    if feature_names:
        names = feature_names
    labels = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(count)]
    kind = _kind(matrix.dtype) if matrix.size else "number"
    holes = _holes(matrix) if matrix.ndim == 2 else [False] * len(labels)
    return tuple(Column(name, kind, missing=hole) for name, hole in zip(labels, holes, strict=False)), False


def _holes(matrix: NDArray[Any]) -> list[bool]:
    """Per column of a matrix, whether it holds a missing value (NaN, or None in an object matrix)."""
    if matrix.dtype.kind == "f":
        return np.isnan(matrix).any(axis=0).tolist()
    if matrix.dtype.kind == "O":
        return [any(is_missing(value) for value in column) for column in matrix.T]
    return [False] * matrix.shape[1]


def is_missing(value: Any) -> bool:
    """Whether ``value`` is a missing value: None, NaN or ``pd.NA`` (and ``pd.NaT``)."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def to_json_values(values: Sequence[Any]) -> list[Any]:
    """Plain JSON values: numpy scalars become Python ones, NaN (and ``pd.NA``) becomes None."""
    out: list[Any] = []
    for value in values:
        item = value.item() if isinstance(value, np.generic) else value
        if (isinstance(item, float) and not math.isfinite(item)) or is_missing(item):
            item = None
        out.append(item if isinstance(item, bool | int | float | str) or item is None else str(item))
    return out


def rows_of(x: Any) -> list[list[Any]]:
    """The rows of a DataFrame or matrix as lists of JSON values, in column order."""
    values = x.to_numpy(dtype=object) if hasattr(x, "to_numpy") else np.asarray(x)
    return [to_json_values(list(row)) for row in values]


def derive_signature(
    estimator: Any,
    x: Any,
    *,
    feature_names: Sequence[str] = (),
    class_names: Sequence[str] = (),
    example: Any = None,
) -> Signature:
    """The signature of a fitted ``estimator`` trained on data like ``x``.

    Args:
        estimator: The fitted estimator (scikit-learn API: ``predict``, maybe ``classes_``).
        x: Training (or any) features: a pandas DataFrame or a 2-D matrix; only its columns
            and dtypes are read.
        feature_names: Names of a matrix's columns (a DataFrame names its own); ``x0``, ``x1``,
            ... when omitted.
        class_names: Human names of the classes, in ``estimator.classes_`` order.
        example: Held-out rows for the example request (same form as ``x``); the first
            ``EXAMPLE_ROWS`` rows of ``x`` when omitted.

    Returns:
        The signature, its example answered by the estimator itself.
    """
    columns, frame = _columns(estimator, x, feature_names)
    if example is not None:  # a hole in the held-out rows only: the model answers it, so take it
        held_out, _ = _columns(estimator, example, feature_names)
        columns = tuple(
            replace(column, missing=column.missing or other.missing)
            for column, other in zip(columns, held_out, strict=True)
        )
    task: Task = "classification" if is_classifier(estimator) else "regression"
    sample = (example if example is not None else x)[:EXAMPLE_ROWS]
    predictions = to_json_values(list(np.asarray(estimator.predict(sample)).ravel()))
    classes = to_json_values(list(getattr(estimator, "classes_", []))) if task == "classification" else []
    return Signature(
        task=task,
        columns=columns,
        frame=frame,
        classes=tuple(classes),
        class_names=tuple(str(name) for name in class_names),
        example_rows=tuple(tuple(row) for row in rows_of(sample)),
        example_predictions=tuple(predictions),
    )


def signature_of_estimator(estimator: Any, class_names: Sequence[str] = ()) -> Signature:
    """A signature from a fitted estimator alone (an artifact trained elsewhere, no data at hand).

    Columns come from ``feature_names_in_`` (or ``x0``.. from ``n_features_in_``) and are taken
    as numbers; the example request is one row of zeros with the model's answer to it (none
    when the model refuses zeros, e.g. for a string column: give an example then).

    Raises:
        ValueError: The estimator is not fitted (it knows neither its features nor their count).
    """
    names = getattr(estimator, "feature_names_in_", None)
    count = len(names) if names is not None else getattr(estimator, "n_features_in_", None)
    if count is None:
        raise ValueError(f"{type(estimator).__name__} is not fitted: it has no n_features_in_")
    zeros: Any = np.zeros((1, int(count)))
    if names is not None:
        import pandas as pd  # only a DataFrame-fitted estimator has names, and pandas with it

        zeros = pd.DataFrame(zeros, columns=[str(n) for n in names])
    try:
        return derive_signature(estimator, zeros, class_names=class_names)
    except Exception:  # zeros may not fit the columns (strings): no example then
        columns, frame = _columns(estimator, zeros, ())
        task: Task = "classification" if is_classifier(estimator) else "regression"
        classes = to_json_values(list(getattr(estimator, "classes_", []))) if task == "classification" else []
        return Signature(task, columns, frame, tuple(classes), tuple(str(n) for n in class_names))
