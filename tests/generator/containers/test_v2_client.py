"""The example request every runtime check sends (dsdeploy smoke, the pod-spec smoke), from a signature.

A model trained on a table with holes has missing values in its example (issue 29): they must
reach the service as JSON's null, whether the signature wrote null or a float NaN (which
``json.dumps`` writes as ``NaN``, a token strict JSON parsers refuse).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.containers.v2_client import Example

TABLE = [
    {"name": "width", "kind": "number", "datatype": "FP64"},
    {"name": "size", "kind": "string", "datatype": "BYTES"},
]
MATRIX = [{"name": f"x{i}", "kind": "number", "datatype": "FP64"} for i in range(2)]


def _strict(body: bytes) -> Any:
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    return json.loads(body, parse_constant=refuse)


def _example(columns: list[dict[str, str]], rows: list[list[Any]]) -> Example:
    # Through JSON as the checks read it (signature.json, or the metadata's parameters).
    signature = {"columns": columns, "example": {"instances": rows, "predictions": [0, 1]}}
    return Example.from_signature(json.loads(json.dumps(signature)))


@pytest.mark.parametrize("missing", [None, float("nan")], ids=["null", "nan"])
def test_a_missing_value_of_a_table_goes_as_null_in_every_request(missing):
    example = _example(TABLE, [[missing, "small"], [5.1, missing]])
    infer = _strict(example.infer_body())
    assert [tensor["data"] for tensor in infer["inputs"]] == [[None, 5.1], ["small", None]]
    assert [tensor["shape"] for tensor in infer["inputs"]] == [[2], [2]]
    assert _strict(example.predict_body()) == {"instances": [[None, "small"], [5.1, None]]}


@pytest.mark.parametrize("missing", [None, float("nan")], ids=["null", "nan"])
def test_a_missing_value_of_a_matrix_goes_as_null_in_its_one_tensor(missing):
    example = _example(MATRIX, [[missing, 1.5], [2.5, 3.0]])
    [tensor] = _strict(example.infer_body())["inputs"]
    assert (tensor["shape"], tensor["datatype"], tensor["data"]) == ([2, 2], "FP64", [None, 1.5, 2.5, 3.0])
    assert _strict(example.predict_body()) == {"instances": [[None, 1.5], [2.5, 3.0]]}
    # The answers are compared as before: the model's own, numbers within 1e-6.
    assert example.matches([0, 1])
    assert not example.matches([1, 0])
