"""The OpenAPI schema of the service, made exact from the served model's signature.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

FastAPI documents the request bodies of ``/predict`` and the v2 infer route from their pydantic
models, which take any model's rows; the service then refuses (422) the rows that do not fit
the model it serves. So a client, or a tool that generates requests from the schema
(schemathesis), reads "any list of numbers" where only four are accepted. Once the model is
loaded, this replaces those two bodies by what the signature says: the row length, the column
names and their value types, at least one row and at most ``MAX_ROWS``, the outputs the model
offers (each at most once), the ``parameters`` the service reads (``parameters``), and the
served name and version as the one ``model_name`` and ``model_version``.

JSON Schema cannot tie a tensor's ``shape`` to the length of its ``data``; the infer body lists
one alternative per row count from 1 to ``TENSOR_ROW_CHOICES`` (the schema's examples), and its
description says that any count up to ``MAX_ROWS`` is accepted in the same form.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from .. import __version__
from .answers import public_example
from .artifact import Model
from .features import INTEGER_LIMIT, VALUE_LIMIT
from .parameters import REQUEST_CONTENT_TYPES, TENSOR_CONTENT_TYPES, output_datatype
from .protocol import INTEGER_DATATYPES, OUTPUT_ALIASES, OUTPUT_PREDICT, OUTPUT_PROBA
from .signature import Column

#: Row counts the infer body spells out, one alternative each (JSON Schema has no arithmetic).
TENSOR_ROW_CHOICES = 4
FLOAT_DATATYPES = ("FP64", "FP32", "FP16")
#: A parameter's value (the protocol's ``$parameter``).
SCALAR_TYPES = ["string", "number", "boolean"]

Schema = dict[str, Any]


def _number() -> Schema:
    return {"type": "number", "minimum": -VALUE_LIMIT, "maximum": VALUE_LIMIT}


def _integer() -> Schema:
    return {"type": "integer", "minimum": -INTEGER_LIMIT, "maximum": INTEGER_LIMIT}


def _value(kind: str) -> Schema:
    """The JSON values a column of ``kind`` takes (as the model's ``check_features`` checks them)."""
    if kind == "number":
        return _number()
    if kind == "integer":
        return _integer()
    return {"type": "boolean" if kind == "boolean" else "string"}


def _nullable(values: Schema, column: Column) -> Schema:
    """``values``, and null too where training saw the column missing (and only there)."""
    return {"anyOf": [values, {"type": "null"}]} if column.missing else values


def _column_value(column: Column) -> Schema:
    """The JSON values ``column`` takes: its kind's, or one of its categories when it has them."""
    values = {"enum": list(column.categories)} if column.categories else _value(column.kind)
    return _nullable(values, column)


def _array(items: Schema, count: int) -> Schema:
    return {"type": "array", "items": items, "minItems": count, "maxItems": count}


def _tuple(values: list[Schema]) -> Schema:
    """An array of ``len(values)`` items, item ``i`` one of ``values[i]``."""
    if all(value == values[0] for value in values):
        return _array(values[0], len(values))
    return {
        "type": "array",
        "prefixItems": values,
        "items": False,
        "minItems": len(values),
        "maxItems": len(values),
    }


def _row_list(model: Model) -> Schema:
    return _tuple([_column_value(column) for column in model.signature.columns])


def _row_object(model: Model) -> Schema:
    columns = model.signature.columns
    return {
        "type": "object",
        "properties": {column.name: _column_value(column) for column in columns},
        # An absent key is a missing value: only a column training saw missing may lack one.
        "required": [column.name for column in columns if not column.missing],
        "additionalProperties": False,
    }


def predict_request(model: Model, max_rows: int, public: bool = False) -> Schema:
    """The ``/predict`` body the model takes: 1 to ``max_rows`` rows, as lists or as objects."""
    names = ", ".join(model.feature_names)
    return {
        "title": "PredictRequest",
        "description": f"Rows of the model's {model.n_features} columns ({names}): lists in that "
        f"order, or objects keyed by column name; 1 to {max_rows} rows (MAX_ROWS).",
        "type": "object",
        "properties": {
            "instances": {
                "type": "array",
                "items": {"anyOf": [_row_list(model), _row_object(model)]},
                "minItems": 1,
                "maxItems": max_rows,
            }
        },
        "required": ["instances"],
        # Held-out rows are real data: only with PUBLIC_EXAMPLE, else the synthetic row.
        "example": {"instances": public_example(model, public)["instances"]},
    }


def _parameters(content_types: tuple[str, ...], **known: Schema) -> Schema:
    """A ``parameters`` object: string, number or boolean values, the ones the service reads spelled out.

    ``content_type`` takes ``content_types``; a name given ``False`` in ``known`` is refused (422).
    """
    properties = {"content_type": {"enum": list(content_types)}, **known}
    return {
        "anyOf": [
            {"type": "object", "properties": properties, "additionalProperties": {"type": SCALAR_TYPES}},
            {"type": "null"},
        ]
    }


def _tensor_content_types(datatype: str) -> tuple[str, ...]:
    return TENSOR_CONTENT_TYPES if datatype == "BYTES" else TENSOR_CONTENT_TYPES[:1]


def _tensor(name: Schema, shape: list[int], datatype: str, values: list[Schema]) -> Schema:
    """A tensor of ``shape[0]`` rows of ``values`` (one schema per column): flat or nested by row."""
    rows = shape[0]
    # binary_data_size belongs to binary requests (Inference-Header-Content-Length), not JSON ones.
    parameters = _parameters(_tensor_content_types(datatype), binary_data_size=False)
    return {
        "type": "object",
        "properties": {
            "name": name,
            "shape": {"const": shape},
            "datatype": {"const": datatype},
            "parameters": parameters,
            "data": {"anyOf": [_tuple(values * rows), _array(_tuple(values), rows)]},
        },
        "required": ["name", "shape", "datatype", "data"],
    }


def _numbers(datatype: str, column: Column) -> Schema:
    return _nullable(_number() if datatype in FLOAT_DATATYPES else _integer(), column)


def _numeric_tensors(model: Model, rows: int) -> list[Schema]:
    """One 2-D tensor ``[rows, n_features]`` of each numeric datatype."""
    tensors = []
    columns = model.signature.columns
    for datatype in (*FLOAT_DATATYPES, *sorted(INTEGER_DATATYPES)):
        values = [_numbers(datatype, column) for column in columns]
        tensors.append(_tensor({"type": "string"}, [rows, len(columns)], datatype, values))
    return tensors


def _column_tensor(model: Model, index: int, rows: int) -> Schema:
    """The tensor ``[rows]`` of one column, in each datatype its kind takes."""
    column = model.signature.columns[index]
    name = {"const": column.name}
    if column.kind in ("number", "integer"):
        choices = [
            _tensor(name, [rows], datatype, [_numbers(datatype, column)])
            for datatype in (*FLOAT_DATATYPES, *sorted(INTEGER_DATATYPES))
            if column.kind == "number" or datatype not in FLOAT_DATATYPES
        ]
        return {"anyOf": choices}
    return _tensor(name, [rows], column.datatype, [_column_value(column)])


def _inputs(model: Model, rows: int) -> list[Schema]:
    """The ``inputs`` a request of ``rows`` rows may carry: one 2-D tensor, or one per column."""
    per_column = {
        "type": "array",
        "prefixItems": [_column_tensor(model, index, rows) for index in range(model.n_features)],
        "items": False,
        "minItems": model.n_features,
        "maxItems": model.n_features,
    }
    if not model.signature.numeric:
        return [per_column]
    single = {"type": "array", "items": {"anyOf": _numeric_tensors(model, rows)}, "maxItems": 1}
    return [{**single, "minItems": 1}, per_column] if model.n_features > 1 else [{**single, "minItems": 1}]


def _outputs(model: Model) -> list[Schema]:
    """The ``outputs`` lists a request may ask for: each output at most once, in any order.

    A repeat would be a copy of the answer (refused, 422). ``uniqueItems`` alone cannot say it:
    two requests for one output with different ``parameters`` are unique items. So each allowed
    sequence of names is spelled out (two outputs at most, ``output-0`` standing for ``predict``:
    eight lists, the empty one included).
    """
    offered = [OUTPUT_PREDICT, OUTPUT_PROBA] if model.has_proba else [OUTPUT_PREDICT]
    names = [*offered, *OUTPUT_ALIASES]

    def output(name: str) -> Schema:
        datatype = output_datatype(name, model)
        parameters = _parameters(
            _tensor_content_types(datatype), binary_data={"type": "boolean"}, classification=False
        )
        properties = {"name": {"const": name}, "parameters": parameters}
        return {"type": "object", "properties": properties, "required": ["name"]}

    def distinct(chosen: tuple[str, ...]) -> bool:
        return len({OUTPUT_ALIASES.get(name, name) for name in chosen}) == len(chosen)

    empty: Schema = {"type": "array", "maxItems": 0}  # prefixItems may not be empty
    return [
        empty,
        *(
            {
                "type": "array",
                "prefixItems": [output(name) for name in chosen],
                "items": False,
                "minItems": count,
                "maxItems": count,
                "uniqueItems": True,
            }
            for count in range(1, len(offered) + 1)
            for chosen in permutations(names, count)
            if distinct(chosen)
        ),
    ]


def infer_request(model: Model, max_rows: int) -> Schema:
    """The v2 infer body the model takes (rows 1 to ``TENSOR_ROW_CHOICES`` spelled out)."""
    names = ", ".join(model.feature_names)
    layout = (
        f"one tensor [rows, {model.n_features}] of numbers, or one tensor [rows] per column ({names})"
        if model.signature.numeric
        else f"one tensor [rows] per column, in this order: {names}"
    )
    choices = min(TENSOR_ROW_CHOICES, max_rows)
    return {
        "title": "InferRequest",
        "description": f"Open Inference Protocol v2 request: {layout}; data flat in row-major order "
        f"or nested by row. Any number of rows from 1 to {max_rows} (MAX_ROWS) is accepted; the "
        f"alternatives below spell out 1 to {choices}.",
        "type": "object",
        "properties": {
            "id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "parameters": _parameters(REQUEST_CONTENT_TYPES, binary_data_output={"type": "boolean"}),
            "outputs": {"anyOf": [*_outputs(model), {"type": "null"}]},
            "inputs": {
                "anyOf": [inputs for rows in range(1, choices + 1) for inputs in _inputs(model, rows)]
            },
        },
        "required": ["inputs"],
    }


def for_model(schema: Schema, model: Model, model_name: str, max_rows: int, public: bool = False) -> Schema:
    """``schema`` (FastAPI's) with the request bodies, the model name and version of the served model.

    Args:
        schema: The OpenAPI document FastAPI generated; changed in place.
        model: The served model.
        model_name: The name in the v2 routes.
        max_rows: Most rows a request may carry (``MAX_ROWS``).
        public: Whether the example may show the held-out rows (``PUBLIC_EXAMPLE``).

    Returns:
        ``schema``.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["PredictRequest"] = predict_request(model, max_rows, public)
    components["InferRequest"] = infer_request(model, max_rows)
    served = {"model_name": model_name, "model_version": __version__}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                name = parameter.get("name")
                if name in served and parameter.get("in") == "path":
                    title = name.replace("_", " ").title()
                    parameter["schema"] = {"type": "string", "enum": [served[name]], "title": title}
    return schema
