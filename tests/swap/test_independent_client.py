"""An independent Open Inference Protocol client (Triton's) drives the projects' services.

tritonclient was written for Triton, not for this service: if it can read the metadata, check
readiness and infer with every datatype the protocol names for our inputs (FP32, FP64, INT64 for
a numeric model; one BYTES or INT64 tensor per column for a table with strings), the service
speaks the protocol, not a dialect of it. Answers are checked against the model's own. Tensors
go as JSON (``binary_data=False``): the binary-tensor extension is Triton's own, and the server
metadata lists no extension.

Its gRPC client drives the same services' gRPC port (KServe's ``GRPCInferenceService``): it sends
tensors as raw little-endian bytes (BYTES length-prefixed) and reads numbers only from raw outputs,
so its answers equal HTTP's only if both directions of the raw encoding are right.

tritonclient cannot send a missing value in JSON (a None in a BYTES tensor goes as the text
"None", a NaN as ``NaN``, which is not JSON), so the table's nulls go to every route as plain
HTTP: a null for a column that had missing values in training is answered as the model answered
it at training, and one for a column that had none is refused, naming the column.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest

http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a test dependency")


def _predict(url: str, rows: list[list[object]]) -> list[object]:
    request = urllib.request.Request(
        f"{url}/predict", json.dumps({"instances": rows}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["predictions"]


def _post(url: str, body: object) -> tuple[int, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture(scope="module")
def numeric(default_project, local_service):
    return local_service(default_project)


@pytest.fixture(scope="module")
def table(swapped, local_service):
    return local_service(swapped("lightgbm-mixed-table"))


def _output(name):
    return http.InferRequestedOutput(name, binary_data=False)


def _client(service):
    return http.InferenceServerClient(
        url=service.url.removeprefix("http://"), connection_timeout=30, network_timeout=30
    )


def test_server_and_model_health_and_metadata(numeric):
    client = _client(numeric)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(numeric.model_name)
    assert client.get_server_metadata()["name"] == numeric.model_name
    metadata = client.get_model_metadata(numeric.model_name)
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert metadata["parameters"]["task"] == "classification"


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "INT64"])
def test_numeric_tensor_of_each_datatype_is_answered_as_the_model_answers(numeric, datatype):
    client = _client(numeric)
    example = client.get_model_metadata(numeric.model_name)["parameters"]["example"]
    rows = np.asarray(
        example["instances"], dtype={"FP64": np.float64, "FP32": np.float32, "INT64": np.int64}[datatype]
    )
    tensor = http.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=False)
    result = client.infer(numeric.model_name, [tensor], outputs=[_output("predict")])
    # The model's own answer for exactly these values (FP32 and INT64 change them a little).
    assert result.as_numpy("predict").tolist() == _predict(numeric.url, rows.astype(np.float64).tolist())
    if datatype == "FP64":
        assert result.as_numpy("predict").tolist() == example["predictions"]


def test_class_probabilities_come_back_as_fp64(numeric):
    client = _client(numeric)
    example = client.get_model_metadata(numeric.model_name)["parameters"]["example"]
    rows = np.asarray(example["instances"], dtype=np.float64)
    tensor = http.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    outputs = [_output("predict"), _output("predict_proba")]
    proba = client.infer(numeric.model_name, [tensor], outputs=outputs).as_numpy("predict_proba")
    assert proba.dtype == np.float64
    assert proba.shape == (len(rows), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_one_tensor_per_column_with_bytes_for_strings(table):
    client = _client(table)
    metadata = client.get_model_metadata(table.model_name)
    example = metadata["parameters"]["example"]
    # The complete rows only: the rows with holes go as plain HTTP (below).
    pairs = zip(example["instances"], example["predictions"], strict=True)
    complete = [(row, want) for row, want in pairs if None not in row]
    assert complete
    rows = [row for row, _ in complete]
    tensors = []
    for index, spec in enumerate(metadata["inputs"]):
        values = [row[index] for row in rows]
        if spec["datatype"] == "BYTES":
            data = np.asarray([value.encode() for value in values], dtype=np.object_)
        elif spec["datatype"] == "INT64":
            data = np.asarray(values, dtype=np.int64)
        else:
            data = np.asarray(values, dtype=np.float64)
        tensor = http.InferInput(spec["name"], [len(rows)], spec["datatype"])
        tensor.set_data_from_numpy(data, binary_data=False)
        tensors.append(tensor)
    assert {spec["datatype"] for spec in metadata["inputs"]} == {"FP64", "BYTES", "INT64"}
    result = client.infer(table.model_name, tensors, outputs=[_output("predict")])
    assert result.as_numpy("predict").tolist() == [want for _, want in complete]


def _grpc_client(service):
    grpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is a test dependency")
    return grpc, grpc.InferenceServerClient(service.grpc)


def test_grpc_health_metadata_and_answers_equal_http(numeric):
    grpc, client = _grpc_client(numeric)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(numeric.model_name)
    assert client.get_server_metadata().name == numeric.model_name
    rest = _client(numeric).get_model_metadata(numeric.model_name)
    metadata = client.get_model_metadata(numeric.model_name)
    for side in ("inputs", "outputs"):
        tensors = [
            {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in getattr(metadata, side)
        ]
        assert tensors == rest[side]
    rows = np.asarray(rest["parameters"]["example"]["instances"], dtype=np.float64)
    tensor = grpc.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    names = ["predict", "predict_proba"]
    result = client.infer(
        numeric.model_name, [tensor], outputs=[grpc.InferRequestedOutput(name) for name in names]
    )
    over_http = http.InferInput("input-0", list(rows.shape), "FP64")
    over_http.set_data_from_numpy(rows, binary_data=False)
    want = _client(numeric).infer(numeric.model_name, [over_http], outputs=[_output(name) for name in names])
    assert result.as_numpy("predict").tolist() == want.as_numpy("predict").tolist()
    assert result.as_numpy("predict").tolist() == rest["parameters"]["example"]["predictions"]
    np.testing.assert_array_equal(result.as_numpy("predict_proba"), want.as_numpy("predict_proba"))
    with pytest.raises(Exception, match="NOT_FOUND"):
        client.infer("another-model", [tensor])


def test_grpc_one_raw_tensor_per_column_with_bytes_for_strings(table):
    grpc, client = _grpc_client(table)
    rest = _client(table).get_model_metadata(table.model_name)
    example = rest["parameters"]["example"]
    complete = [
        (row, want)
        for row, want in zip(example["instances"], example["predictions"], strict=True)
        if None not in row
    ]
    tensors = []
    for index, spec in enumerate(rest["inputs"]):
        values = [row[index] for row, _ in complete]
        kind = {"BYTES": np.object_, "INT64": np.int64}.get(spec["datatype"], np.float64)
        data = np.asarray([value.encode() for value in values] if kind is np.object_ else values, dtype=kind)
        tensor = grpc.InferInput(spec["name"], [len(values)], spec["datatype"])
        tensor.set_data_from_numpy(data)
        tensors.append(tensor)
    result = client.infer(table.model_name, tensors, outputs=[grpc.InferRequestedOutput("predict")])
    assert result.as_numpy("predict").tolist() == [want for _, want in complete]


def _answer(body: Any) -> Any:
    """The predictions of a /predict answer, or the ``predict`` output of a v2 one."""
    if "predictions" in body:
        return body["predictions"]
    return next(output["data"] for output in body["outputs"] if output["name"] == "predict")


def test_a_null_where_training_had_holes_is_answered_on_every_route(table):
    # The held-out rows and the model's own answers, as training wrote them (the metadata shows
    # synthetic rows unless PUBLIC_EXAMPLE is set).
    signature = json.loads((table.project / "artifacts" / "signature.json").read_text(encoding="utf-8"))
    columns = signature["columns"]
    assert columns == _client(table).get_model_metadata(table.model_name)["parameters"]["columns"]
    names = [column["name"] for column in columns]
    rows, want = signature["example"]["instances"], signature["example"]["predictions"]
    # The swap's example has a hole in each column that had them (tests/support/swaps.py).
    holes = {names[i] for row in rows for i, value in enumerate(row) if value is None}
    assert holes == {column["name"] for column in columns if column.get("missing")} != set()
    objects = [dict(zip(names, row, strict=True)) for row in rows]
    without = [{name: value for name, value in row.items() if value is not None} for row in objects]
    tensors = [
        {"name": name, "shape": [len(rows)], "datatype": column["datatype"], "data": [row[i] for row in rows]}
        for i, (name, column) in enumerate(zip(names, columns, strict=True))
    ]
    predict, infer = f"{table.url}/predict", f"{table.url}/v2/models/{table.model_name}/infer"
    sent = {
        "/predict, rows as lists": (predict, {"instances": rows}),
        "/predict, rows as objects with null": (predict, {"instances": objects}),
        "/predict, rows as objects without the key": (predict, {"instances": without}),
        "v2 infer, one tensor per column": (infer, {"inputs": tensors, "outputs": [{"name": "predict"}]}),
    }
    answered = {}
    for route, (url, body) in sent.items():
        status, answer = _post(url, body)
        answered[route] = (status, _answer(answer) if status == 200 else answer)
    assert answered == dict.fromkeys(sent, (200, want))
    # A null for a column that never had one in training is refused, in a sentence naming it.
    never = next(i for i, column in enumerate(columns) if not column.get("missing"))
    row = [None if i == never else value for i, value in enumerate(rows[-1])]
    status, answer = _post(predict, {"instances": [row]})
    assert status == 422, answer
    assert names[never] in answer["error"], answer
