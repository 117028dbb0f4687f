"""An independent Open Inference Protocol client (Triton's) drives the projects' services.

tritonclient was written for Triton, not for this service: if it can read the metadata, check
readiness and infer with every datatype the protocol names for our inputs (FP32, FP64, INT64 for
a numeric model; one BYTES or INT64 tensor per column for a table with strings), the service
speaks the protocol, not a dialect of it. Answers are checked against the model's own. Tensors
go as JSON (``binary_data=False``): the binary-tensor extension is Triton's own, and the server
metadata lists no extension.
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a test dependency")


def _predict(url: str, rows: list[list[object]]) -> list[object]:
    request = urllib.request.Request(
        f"{url}/predict", json.dumps({"instances": rows}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["predictions"]


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
    rows = example["instances"]
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
    assert result.as_numpy("predict").tolist() == example["predictions"]
