"""Refusals in plain words: a request's validation errors as one sentence naming the row and column.

Owned by the template: ``copier update`` may replace this file.

Pydantic reports a bad value by its location in the body (``instances[0].list[1].float``), once per
member of the type union it failed. A client needs the row, the column and what the column takes:
``describe_validation_errors`` reads them from the first error's location, the body and the served
model's signature, as the checks (``checks``) word theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException

from .features import refusal
from .protocol import LAYOUT_TAGS, ROW_TAGS, ROWS_LAYOUT
from .signature import Signature


def _where(loc: Sequence[Any]) -> str:
    parts = [part for part in loc if part not in LAYOUT_TAGS and part not in ROW_TAGS]
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return text.lstrip(".") or "request body"


def _value_sentence(label: str, row: int, key: Any, value: Any, signature: Signature) -> str:
    """The sentence for a bad value in ``row`` under ``key`` (a column's index or name)."""
    names = signature.names
    if isinstance(key, int) and not 0 <= key < len(names):
        return f"{label}: holds more than the model's {len(names)} columns ({', '.join(names)})"
    name = names[key] if isinstance(key, int) else str(key)
    if name not in names:
        return f"{label} has unknown column {name!r}: the model takes {', '.join(names)}"
    return f"{label}: column {name!r} {refusal(signature.columns[names.index(name)], row, value).text}"


def _instances_sentence(parts: Sequence[Any], value: Any, signature: Signature) -> str | None:
    if len(parts) < 2 or not isinstance(parts[1], int):
        return None
    row = parts[1]
    label = f"instances[{row}]"
    if len(parts) < 4:  # the row itself is neither a list nor an object
        names = ", ".join(signature.names)
        return f"{label} must be a list of values in column order ({names}), or an object keyed by column"
    return _value_sentence(label, row, parts[3], value, signature)


def _inputs_sentence(parts: Sequence[Any], value: Any, body: Any, signature: Signature) -> str | None:
    # parts: inputs, i, data, flat|rows, j[, k], member
    if len(parts) < 5 or parts[2] != "data" or not isinstance(parts[4], int):
        return None
    try:
        tensor = body["inputs"][parts[1]]
        name = tensor["name"]
    except (KeyError, IndexError, TypeError):
        return None
    width = len(signature.columns)
    nested = parts[3] == ROWS_LAYOUT
    if nested and len(parts) == 5:  # the row itself is not a list
        width = 1 if name in signature.names else width
        return f"input {name!r}: row {parts[4]} must be a list of {width} values, as every row of nested data"
    if name in signature.names:  # one tensor per column: its values are rows
        row, key = parts[4], name
    elif nested and isinstance(parts[5], int):  # rows of values
        row, key = parts[4], parts[5]
    else:  # one 2-D tensor, flat in row-major order
        row, key = divmod(parts[4], width)
    return _value_sentence(f"input {name!r}: row {row}", row, key, value, signature)


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]], body: Any = None, signature: Signature | None = None
) -> str:
    """One plain sentence from pydantic/FastAPI validation errors: the first problem.

    Args:
        errors: The errors, as ``RequestValidationError.errors()`` returns them.
        body: The request body, as parsed JSON (names a v2 request's tensors).
        signature: The served model's signature (names the columns and what they take).

    Returns:
        E.g. ``"instances[0]: column 'age' takes finite numbers within ±3.4e+38, not [1]"``, or,
        for a problem that is not about a value, ``"inputs[0].name: Field required"``.
    """
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = list(first.get("loc", ()))
    parts = loc[1:] if loc and loc[0] == "body" else loc
    sentence = None
    if signature is not None and parts:
        value = first.get("input")
        if parts[0] == "instances":
            sentence = _instances_sentence(parts, value, signature)
        elif parts[0] == "inputs":
            sentence = _inputs_sentence(parts, value, body, signature)
    return sentence or f"{_where(loc)}: {first.get('msg', 'invalid')}"


def unprocessable(message: str) -> HTTPException:
    """A 422 naming what is wrong with a well-formed request."""
    return HTTPException(status_code=422, detail=message)


def too_many(rows: int, max_rows: int) -> HTTPException:
    """A 413 for more rows than ``MAX_ROWS``."""
    return HTTPException(status_code=413, detail=f"{rows} rows exceed the limit of {max_rows} (MAX_ROWS)")
