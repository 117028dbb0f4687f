"""Request checks: a parsed request against the served model's signature, refused with a 4xx.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Both ways into the service run these (``steps`` names the order): the FastAPI routes and the
fast path. Each check raises ``HTTPException`` naming the problem: 413 for too many rows
(``MAX_ROWS``) or too big an answer (``MAX_RESPONSE_VALUES``), 422 for anything else wrong with
a well-formed request. What comes out is the matrix ``(rows, features)`` the batcher gives the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from numpy.typing import NDArray

from .artifact import Model
from .features import RefusedValueError, refusal
from .parameters import check_parameters
from .protocol import (
    OUTPUT_ALIASES,
    OUTPUT_PREDICT,
    OUTPUT_PROBA,
    InferRequest,
    NumericInferRequest,
    NumericPredictRequest,
    PredictRequest,
)
from .refusals import too_many, unprocessable
from .settings import DEFAULT_MAX_RESPONSE_VALUES
from .signature import is_missing
from .tensors import column_matrix, input_matrix

__all__ = ["check_infer", "check_predict", "unprocessable"]  # steps takes unprocessable from here

#: Accepted categories spelled out in a refusal; the rest are counted.
SHOWN_CATEGORIES = 10


def _check_categories(matrix: NDArray[Any], model: Model, row_label: str) -> NDArray[Any]:
    """Each value of a column with known categories must be one of them (pandas would make it NaN)."""
    for index, column in enumerate(model.signature.columns):
        if not column.categories:
            continue
        known = set(column.categories)
        for number, value in enumerate(matrix[:, index].tolist()):
            if value not in known and not is_missing(value):  # a hole was checked against ``missing``
                shown = ", ".join(repr(category) for category in column.categories[:SHOWN_CATEGORIES])
                more = len(column.categories) - SHOWN_CATEGORIES
                accepted = f"{shown} and {more} more" if more > 0 else shown
                accepted += " or null" if column.missing else ""
                raise unprocessable(
                    f"{row_label.format(number)}: column {column.name!r} has no category {value!r}; "
                    f"it takes {accepted}"
                )
    return matrix


def _check_outputs(body: InferRequest | NumericInferRequest, model: Model) -> list[str]:
    """The output names asked for: each one the model offers, at most once (``predict`` if none)."""
    available = [OUTPUT_PREDICT, OUTPUT_PROBA] if model.has_proba else [OUTPUT_PREDICT]
    offered = ", ".join(available)
    wanted = [output.name for output in body.outputs or []] or [OUTPUT_PREDICT]
    # Each repeat of an output is a copy of the answer: 1,000 repeats made 362 bytes into 6 MB.
    if len(wanted) > len(available):
        raise unprocessable(
            f"outputs lists {len(wanted)} names but this model offers {len(available)}: ask for each of "
            f"{offered} at most once"
        )
    meant = [OUTPUT_ALIASES.get(name, name) for name in wanted]  # KServe's output-0 is predict
    unknown = [name for name, output in zip(wanted, meant, strict=True) if output not in available]
    if unknown:
        raise unprocessable(f"unknown output {unknown[0]!r}: this model offers {offered}")
    if len(set(meant)) != len(meant):
        repeated = next(name for name, output in zip(wanted, meant, strict=True) if meant.count(output) > 1)
        raise unprocessable(f"outputs names {repeated!r} more than once: ask for each output at most once")
    return wanted


def _check_answer_size(
    body: InferRequest | NumericInferRequest,
    model: Model,
    wanted: Sequence[str],
    max_rows: int,
    max_values: int,
) -> None:
    """Refuse (413) a request whose answer would hold more than ``max_values`` values, before any work."""
    shape = body.inputs[0].shape if body.inputs else []
    rows = shape[0] if shape else 0
    if rows > max_rows:
        return  # refused for its rows, with that message, by the checks that follow
    width = sum(len(model.classes) if name == OUTPUT_PROBA else 1 for name in wanted)
    if rows * width > max_values:
        raise HTTPException(
            status_code=413,
            detail=f"{rows} rows of {', '.join(wanted)} make {rows * width} values, over the limit of "
            f"{max_values} (MAX_RESPONSE_VALUES): send fewer rows per request",
        )


def check_infer(
    body: InferRequest | NumericInferRequest,
    model: Model,
    max_rows: int,
    max_values: int = DEFAULT_MAX_RESPONSE_VALUES,
) -> tuple[NDArray[Any], list[str]]:
    """Check a v2 inference request against the model.

    Args:
        body: The parsed request: one 2-D tensor ``[rows, features]`` (numeric models), or one
            tensor ``[rows]`` per column, named as the columns.
        model: The served model.
        max_rows: Most rows accepted (``MAX_ROWS``).
        max_values: Most values the answer may hold (``MAX_RESPONSE_VALUES``): rows times 1 for
            ``predict`` and the number of classes for ``predict_proba``.

    Returns:
        The input as a matrix ``(rows, n_features)``, and the names of the outputs asked for
        (``predict`` when none are).

    Raises:
        HTTPException: 413 for too many rows or too big an answer, 422 for anything else wrong,
            naming it.
    """
    wanted = _check_outputs(body, model)
    check_parameters(body, model)
    _check_answer_size(body, model, wanted, max_rows, max_values)
    names = [tensor.name for tensor in body.inputs]
    per_column = sorted(names) == sorted(model.feature_names) and (
        model.n_features > 1 or len(body.inputs[0].shape) == 1
    )
    if per_column:
        return _check_categories(column_matrix(body.inputs, model, max_rows), model, "row {}"), wanted
    if len(body.inputs) != 1:
        raise unprocessable(
            f"expected exactly one input tensor [rows, {model.n_features}], or one per column "
            f"({', '.join(model.feature_names)}); got {len(body.inputs)}: {', '.join(names) or 'none'}"
        )
    return _check_categories(input_matrix(body.inputs[0], model, max_rows), model, "row {}"), wanted


def _ordered(row: Mapping[str, Any], model: Model, number: int) -> list[Any]:
    """A row given as an object, as a list in column order; missing or unknown names are refused.

    An absent key is a hole (null) in a column training saw missing.
    """
    names = model.feature_names
    required = [c.name for c in model.signature.columns if not c.missing]
    absent = [name for name in required if name not in row]
    if absent:
        raise unprocessable(
            f"instances[{number}] has no column {absent[0]!r}, which was never missing in training: "
            f"every row needs {', '.join(required)}"
        )
    unknown = [name for name in row if name not in names]
    if unknown:
        raise unprocessable(
            f"instances[{number}] has unknown column {unknown[0]!r}: the model takes {', '.join(names)}"
        )
    return [row.get(name) for name in names]


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
        raise too_many(len(instances), max_rows)
    if not instances:
        raise unprocessable("instances holds no rows: send at least one")
    rows = [_ordered(row, model, n) if isinstance(row, dict) else row for n, row in enumerate(instances)]
    lengths = {len(row) for row in rows}
    if lengths != {model.n_features}:
        bad = next(length for length in sorted(lengths) if length != model.n_features)
        raise unprocessable(f"each instance must have {model.n_features} features, got a row of {bad}")
    if isinstance(body, PredictRequest) and model.signature.numeric:
        _refuse_booleans(rows, model)
    try:
        matrix = model.check_features(rows)
    except RefusedValueError as exc:
        raise unprocessable(f"instances[{exc.row}]: column {exc.column!r} {exc.text}") from None
    except ValueError as exc:
        raise unprocessable(f"instances: {exc}") from None
    return _check_categories(matrix, model, "instances[{}]")


def _refuse_booleans(rows: Sequence[Sequence[Any]], model: Model) -> None:
    """A numeric model's rows hold numbers: JSON true/false is not 1/0 (the fast path never has them)."""
    for number, row in enumerate(rows):
        for column, value in zip(model.signature.columns, row, strict=True):
            if isinstance(value, bool):
                text = refusal(column, number, value).text
                raise unprocessable(f"instances[{number}]: column {column.name!r} {text}")
