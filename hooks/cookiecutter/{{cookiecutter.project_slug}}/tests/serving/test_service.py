{% set package_name = cookiecutter.package_name %}"""The inference service: every route, agreement with the model, and every kind of bad request.

Owned by the template. Every request here is built from the trained model's signature, so these
tests pass for whatever model ``train.py`` produces.
"""

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ package_name }}.serving.artifact import Model, ModelLoadError
from {{ package_name }}.serving.service import BodySizeLimit, create_app
from {{ package_name }}.serving.settings import Settings
from {{ package_name }}.serving.signature import Signature


def v2_body(
    signature: Signature, rows: list[list[Any]], datatype: str = "FP64", **extra: Any
) -> dict[str, Any]:
    """A v2 request for ``rows``: one 2-D tensor for a numeric model, else one tensor per column."""
    if signature.numeric:
        flat = [value for row in rows for value in row]
        inputs = [
            {
                "name": "input-0",
                "shape": [len(rows), len(signature.columns)],
                "datatype": datatype,
                "data": flat,
            }
        ]
    else:
        inputs = [
            {"name": c.name, "shape": [len(rows)], "datatype": c.datatype, "data": [row[i] for row in rows]}
            for i, c in enumerate(signature.columns)
        ]
    return {"inputs": inputs, **extra}


def expected(model: Model, rows: list[list[Any]]) -> list[Any]:
    return model.predict(rows).tolist()


# ---------------------------------------------------------------------------------------------
# Health and metadata
# ---------------------------------------------------------------------------------------------


def test_live(client: TestClient) -> None:
    response = client.get("/v2/health/live")
    assert response.status_code == 200
    assert response.json() == {"live": True}


def test_ready_once_model_loaded(client: TestClient) -> None:
    response = client.get("/v2/health/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True


def test_not_ready_before_model_loaded(settings: Settings, row: list[Any]) -> None:
    settings_row = row
    # Without `with`, TestClient skips the lifespan, so the model is never loaded.
    client = TestClient(create_app(settings))
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get(f"/v2/models/{settings.model_name}/ready").status_code == 503
    response = client.post("/predict", json={"instances": [list(settings_row)]})
    assert response.status_code == 503
    assert "not loaded" in response.json()["error"]


def test_startup_fails_loudly_without_artifact(tmp_path: Path) -> None:
    app = create_app(Settings(model_path=tmp_path / "absent.joblib"))
    with pytest.raises(ModelLoadError, match=r"absent\.joblib"), TestClient(app):
        pass


def test_server_metadata(client: TestClient, settings: Settings) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    assert response.json()["name"] == settings.model_name
    assert "version" in response.json()


def test_model_metadata(client: TestClient, model_url: str, settings: Settings, model: Model) -> None:
    response = client.get(model_url)
    assert response.status_code == 200
    metadata = response.json()
    signature = model.signature
    assert metadata["name"] == settings.model_name
    if signature.numeric:
        assert metadata["inputs"] == [
            {"name": "input-0", "datatype": "FP64", "shape": [-1, model.n_features]}
        ]
    else:
        assert [i["name"] for i in metadata["inputs"]] == list(model.feature_names)
    predict = next(output for output in metadata["outputs"] if output["name"] == "predict")
    assert predict["shape"] == [-1]
    assert metadata["parameters"]["feature_names"] == list(model.feature_names)
    assert metadata["parameters"]["task"] == signature.task


def test_metadata_carries_an_example_request_and_its_answers(
    client: TestClient, model_url: str, model: Model
) -> None:
    example = client.get(model_url).json()["parameters"]["example"]
    response = client.post("/predict", json={"instances": example["instances"]})
    assert response.status_code == 200
    assert response.json()["predictions"] == example["predictions"] == expected(model, example["instances"])


def test_model_ready(client: TestClient, model_url: str) -> None:
    response = client.get(f"{model_url}/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("GET", "/ready"), ("POST", "/infer")])
def test_unknown_model_is_404(
    client: TestClient, signature: Signature, rows: list[list[Any]], method: str, suffix: str
) -> None:
    response = client.request(method, f"/v2/models/no-such-model{suffix}", json=v2_body(signature, rows))
    assert response.status_code == 404
    assert "no-such-model" in response.json()["error"]


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v2/models/{model_name}/infer", "/predict", "/v2/health/ready"} <= set(paths)


# ---------------------------------------------------------------------------------------------
# Predictions agree with the model
# ---------------------------------------------------------------------------------------------


def test_infer_matches_model_predict(
    client: TestClient,
    model_url: str,
    model: Model,
    signature: Signature,
    rows: list[list[Any]],
    settings: Settings,
) -> None:
    response = client.post(f"{model_url}/infer", json=v2_body(signature, rows, id="req-1"))
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == settings.model_name
    assert body["id"] == "req-1"
    [output] = body["outputs"]
    assert output["name"] == "predict"
    assert output["shape"] == [len(rows)]
    assert output["data"] == expected(model, rows)


def test_infer_accepts_nested_rows(
    client: TestClient, model_url: str, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    if not signature.numeric:
        pytest.skip("a model with non-numeric columns takes one tensor per column")
    body = v2_body(signature, rows)
    body["inputs"][0]["data"] = rows
    response = client.post(f"{model_url}/infer", json=body)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == expected(model, rows)


def test_infer_accepts_one_tensor_per_column(
    client: TestClient, model_url: str, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    inputs = [
        {
            "name": column.name,
            "shape": [len(rows)],
            "datatype": column.datatype if column.kind != "integer" else "INT64",
            "data": [row[i] for row in rows],
        }
        for i, column in enumerate(signature.columns)
    ]
    response = client.post(f"{model_url}/infer", json={"inputs": inputs[::-1]})  # any order
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == expected(model, rows)


@pytest.mark.parametrize("datatype", ["FP32", "INT64"])
def test_infer_accepts_other_numeric_datatypes(
    client: TestClient,
    model_url: str,
    model: Model,
    signature: Signature,
    rows: list[list[Any]],
    datatype: str,
) -> None:
    if not signature.numeric:
        pytest.skip("a model with non-numeric columns takes one tensor per column")
    whole = [[round(value) for value in row] for row in rows[:2]]
    response = client.post(f"{model_url}/infer", json=v2_body(signature, whole, datatype))
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == expected(model, whole)


def test_infer_generates_an_id_when_none_is_given(
    client: TestClient, model_url: str, signature: Signature, rows: list[list[Any]]
) -> None:
    ids = {client.post(f"{model_url}/infer", json=v2_body(signature, rows)).json()["id"] for _ in range(2)}
    assert len(ids) == 2
    assert all(ids)


def test_infer_returns_probabilities_on_request(
    client: TestClient, model_url: str, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    if not model.has_proba:
        pytest.skip(f"{type(model.estimator).__name__} gives no class probabilities")
    body = v2_body(signature, rows, outputs=[{"name": "predict"}, {"name": "predict_proba"}])
    outputs = {
        output["name"]: output for output in client.post(f"{model_url}/infer", json=body).json()["outputs"]
    }
    assert outputs["predict"]["data"] == expected(model, rows)
    proba = outputs["predict_proba"]
    assert proba["shape"] == [len(rows), len(model.classes)]
    assert proba["datatype"] == "FP64"
    np.testing.assert_allclose(np.reshape(proba["data"], proba["shape"]), model.predict_proba(rows))


def test_regressor_offers_no_probabilities(
    client: TestClient, model_url: str, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    if signature.task != "regression":
        pytest.skip("the model is a classifier")
    body = v2_body(signature, rows, outputs=[{"name": "predict_proba"}])
    response = client.post(f"{model_url}/infer", json=body)
    assert response.status_code == 422
    assert "unknown output 'predict_proba'" in response.json()["error"]


def test_json_without_a_content_type_is_read_as_json(
    client: TestClient, model_url: str, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    # Open Inference Protocol clients (Triton's) send no Content-Type; Triton and KServe accept it.
    for path, body in [("/predict", {"instances": rows}), (f"{model_url}/infer", v2_body(signature, rows))]:
        response = client.post(path, content=json.dumps(body).encode())  # no Content-Type header
        assert response.status_code == 200, response.text


def test_predict_matches_model_predict(client: TestClient, model: Model, rows: list[list[Any]]) -> None:
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.json() == {"predictions": expected(model, rows)}


def test_predict_accepts_rows_keyed_by_column(
    client: TestClient, model: Model, signature: Signature, rows: list[list[Any]]
) -> None:
    keyed = [dict(zip(reversed(signature.names), reversed(row), strict=True)) for row in rows]
    response = client.post("/predict", json={"instances": keyed})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected(model, rows)}


def test_predict_accepts_integers_for_numbers(client: TestClient, model: Model, row: list[Any]) -> None:
    whole = [round(v) if isinstance(v, float) else v for v in row]
    response = client.post("/predict", json={"instances": [whole]})
    assert response.status_code == 200
    assert response.json()["predictions"] == expected(model, [whole])


# ---------------------------------------------------------------------------------------------
# Bad requests: a 4xx naming the problem, never a 5xx. Each case builds its request from one
# valid row of the model's example (``row``), so the cases hold for any model.
# ---------------------------------------------------------------------------------------------

INFER = "{model_url}/infer"
Case = Callable[[list[Any], Signature], tuple[str, Any, int, str]]


def tensor(shape: list[int], data: Any, datatype: str = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


def _n(s: Signature) -> int:
    return len(s.columns)


# Cases for every model.
BAD_JSON_REQUESTS: list[Any] = [
    pytest.param(lambda r, s: (INFER, {"inputs": []}, 422, "exactly one input"), id="v2-no-inputs"),
    pytest.param(lambda r, s: (INFER, {"id": "x"}, 422, "inputs: Field required"), id="v2-missing-inputs"),
    pytest.param(
        lambda r, s: (INFER, tensor([-1, _n(s)], r), 422, "shape[0]"),
        id="v2-negative-shape",
    ),
    pytest.param(
        lambda r, s: (
            INFER,
            {**v2_body(s, [r]), "outputs": [{"name": "embedding"}]},
            422,
            "unknown output 'embedding'",
        ),
        id="v2-unknown-output",
    ),
    pytest.param(
        lambda r, s: (
            "/predict",
            {"instances": [r[:-1]]},
            422,
            f"{_n(s)} features, got a row of {_n(s) - 1}",
        ),
        id="predict-wrong-count",
    ),
    pytest.param(
        lambda r, s: ("/predict", {"instances": [r, r[:1]]}, 422, "got a row of 1"), id="predict-ragged"
    ),
    pytest.param(lambda r, s: ("/predict", {"instances": []}, 422, "no rows"), id="predict-empty"),
    pytest.param(
        lambda r, s: ("/predict", {"instances": [[None] * _n(s)]}, 422, "instances[0]"), id="predict-null"
    ),
    pytest.param(lambda r, s: ("/predict", {"instances": r}, 422, "instances[0]"), id="predict-flat"),
    pytest.param(
        lambda r, s: ("/predict", {"rows": [r]}, 422, "instances: Field required"),
        id="predict-missing-instances",
    ),
    pytest.param(lambda r, s: ("/predict", [r], 422, "JSON object"), id="predict-array-body"),
    pytest.param(
        lambda r, s: (
            "/predict",
            {"instances": [dict(zip(s.names[1:], r[1:], strict=True))]},
            422,
            repr(s.names[0]),
        ),
        id="predict-keyed-missing-column",
    ),
    pytest.param(
        lambda r, s: (
            "/predict",
            {"instances": [{**dict(zip(s.names, r, strict=True)), "no such column": 1}]},
            422,
            "unknown column 'no such column'",
        ),
        id="predict-keyed-unknown-column",
    ),
]
# Cases for a model whose columns are all numbers: one 2-D tensor carries a request.
NUMERIC_BAD_JSON_REQUESTS: list[Any] = [
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s) - 1], r[:-1]), 422, f"expected [rows, {_n(s)}]"),
        id="v2-wrong-feature-count",
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([2, _n(s)], r), 422, f"needs {2 * _n(s)}"), id="v2-shape-data-mismatch"
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([2, _n(s)], [r, r[:-1]]), 422, f"2 rows of {_n(s)} values"),
        id="v2-nested-mismatch",
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], [*r[:-1], "x"]), 422, "must be numbers"), id="v2-string"
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], [*r[:-1], True]), 422, "must be numbers"), id="v2-boolean"
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], [*r[:-1], None]), 422, "inputs[0].data"), id="v2-null"
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], [r, 1.0]), 422, "valid list"), id="v2-mixed-nesting"
    ),
    pytest.param(lambda r, s: (INFER, tensor([0, _n(s)], []), 422, "no rows"), id="v2-empty"),
    pytest.param(
        lambda r, s: (INFER, {"inputs": tensor([1, _n(s)], r)["inputs"] * 2}, 422, "exactly one input"),
        id="v2-two-inputs",
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], r, "BYTES"), 422, "BYTES"), id="v2-bytes-for-numbers"
    ),
    pytest.param(
        lambda r, s: (INFER, tensor([1, _n(s)], [x + 0.5 for x in r], "INT64"), 422, "non-integer"),
        id="v2-int-datatype-with-fractions",
    ),
    pytest.param(
        lambda r, s: ("/predict", {"instances": [[*r[:-1], "a"]]}, 422, repr(s.names[-1])),
        id="predict-string",
    ),
]


def _ask(client: TestClient, model_url: str, case: Case, row: list[Any], signature: Signature) -> None:
    path, body, status, message = case(row, signature)
    response = client.post(path.format(model_url=model_url), json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("case", BAD_JSON_REQUESTS)
def test_bad_request_names_the_problem(
    client: TestClient, model_url: str, case: Case, row: list[Any], signature: Signature
) -> None:
    _ask(client, model_url, case, row, signature)


@pytest.mark.parametrize("case", NUMERIC_BAD_JSON_REQUESTS)
def test_bad_numeric_request_names_the_problem(
    client: TestClient, model_url: str, case: Case, row: list[Any], signature: Signature
) -> None:
    if not signature.numeric:
        pytest.skip("the model has non-numeric columns")
    _ask(client, model_url, case, row, signature)


def test_a_value_of_the_wrong_kind_is_422_naming_the_column(
    client: TestClient, row: list[Any], signature: Signature, wrong_kind: tuple[int, Any]
) -> None:
    index, value = wrong_kind
    bad = [*row[:index], value, *row[index + 1 :]]
    response = client.post("/predict", json={"instances": [bad]})
    assert response.status_code == 422, response.text
    assert repr(signature.names[index]) in response.json()["error"]


def test_a_column_tensor_of_the_wrong_datatype_is_422(
    client: TestClient, model_url: str, signature: Signature, rows: list[list[Any]]
) -> None:
    body = {
        "inputs": [
            {
                "name": c.name,
                "shape": [len(rows)],
                "datatype": "BOOL" if c.kind != "boolean" else "FP64",
                "data": [row[i] for row in rows],
            }
            for i, c in enumerate(signature.columns)
        ]
    }
    response = client.post(f"{model_url}/infer", json=body)
    assert response.status_code == 422, response.text
    assert signature.names[0] in response.json()["error"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e400"], ids=["nan", "infinity", "overflow"])
@pytest.mark.parametrize("route", ["predict", "infer"])
def test_non_finite_numbers_are_422(
    client: TestClient, model_url: str, signature: Signature, row: list[Any], token: str, route: str
) -> None:
    if not signature.numeric:
        pytest.skip("the model has non-numeric columns")
    # JSON has no NaN or Infinity: Python's parser reads them, as it reads 1e400 as infinity.
    values = ", ".join([*(json.dumps(v) for v in row[:-1]), token])
    if route == "predict":
        path, content = "/predict", '{"instances": [[' + values + "]]}"
    else:
        tensor_json = f'"name": "x", "shape": [1, {len(row)}], "datatype": "FP64", "data": [{values}]'
        path, content = f"{model_url}/infer", '{"inputs": [{' + tensor_json + "}]}"
    response = client.post(path, content=content.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "NaN or infinity" in response.json()["error"]


def test_a_number_beyond_float32s_range_is_422_naming_the_column(
    client: TestClient, row: list[Any], signature: Signature, numeric_column: int
) -> None:
    # XGBoost and LightGBM read float32, and a scaler multiplies: the limit is float32's range.
    bad = [*row[:numeric_column], 1e39, *row[numeric_column + 1 :]]
    response = client.post("/predict", json={"instances": [bad]})
    assert response.status_code == 422, response.text
    assert repr(signature.names[numeric_column]) in response.json()["error"]


def test_true_or_false_for_a_number_is_422(client: TestClient, row: list[Any], signature: Signature) -> None:
    if not signature.numeric:
        pytest.skip("the model has non-numeric columns")
    instance = dict(zip(signature.names, [True, *row[1:]], strict=True))
    response = client.post("/predict", json={"instances": [instance]})
    assert response.status_code == 422, response.text
    assert repr(signature.names[0]) in response.json()["error"]


@pytest.mark.parametrize("value", [2**53, 10**400], ids=["beyond-exact", "beyond-float64"])
def test_an_integer_tensor_beyond_exact_float64_integers_is_422(
    client: TestClient, model_url: str, signature: Signature, row: list[Any], value: int
) -> None:
    if not signature.numeric:
        pytest.skip("the model has non-numeric columns")
    body = v2_body(signature, [[value, *(round(v) for v in row[1:])]], datatype="INT64")
    response = client.post(
        f"{model_url}/infer", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "input" in response.json()["error"]


def test_rows_the_estimator_refuses_are_422_not_500(
    client: TestClient, rows: list[list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")

    monkeypatch.setattr(client.app.state.model.estimator, "predict", refuse)  # type: ignore[attr-defined]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("the model cannot score these rows: Input X contains")


def test_openapi_bodies_follow_the_signature(
    client: TestClient, settings: Settings, signature: Signature
) -> None:
    schema = client.get("/openapi.json").json()
    instances = schema["components"]["schemas"]["PredictRequest"]["properties"]["instances"]
    assert (instances["minItems"], instances["maxItems"]) == (1, settings.max_rows)
    as_list, as_object = instances["items"]["anyOf"]
    assert (as_list["minItems"], as_list["maxItems"]) == (len(signature.columns),) * 2
    assert as_object["required"] == list(signature.names)
    assert as_object["additionalProperties"] is False
    parameters = schema["paths"]["/v2/models/{model_name}/infer"]["post"]["parameters"]
    assert [p["schema"]["enum"] for p in parameters if p["name"] == "model_name"] == [[settings.model_name]]


BAD_RAW_REQUESTS = [
    pytest.param(INFER, '{"inputs": [', "application/json", 400, "malformed JSON", id="v2-truncated-json"),
    pytest.param(
        "/predict", "{instances: 1}", "application/json", 400, "malformed JSON", id="predict-not-json"
    ),
    pytest.param(
        "/predict", '{"instances": [[1]]}', "text/plain", 422, "JSON object", id="wrong-content-type"
    ),
    pytest.param("/predict", "", "application/json", 422, "Field required", id="empty-body"),
]


@pytest.mark.parametrize(("path", "content", "content_type", "status", "message"), BAD_RAW_REQUESTS)
def test_bad_raw_request_names_the_problem(
    client: TestClient, model_url: str, path: str, content: str, content_type: str, status: int, message: str
) -> None:
    response = client.post(
        path.format(model_url=model_url), content=content.encode(), headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_too_many_rows_is_413(
    client: TestClient, model_url: str, settings: Settings, signature: Signature, row: list[Any]
) -> None:
    rows = settings.max_rows + 1
    for path, body in [
        (f"{model_url}/infer", v2_body(signature, [row] * rows)),
        ("/predict", {"instances": [row] * rows}),
    ]:
        response = client.post(path, json=body)
        assert response.status_code == 413, path
        assert f"{rows} rows exceed the limit of {settings.max_rows} (MAX_ROWS)" in response.json()["error"]


def test_body_over_limit_by_content_length_is_413(
    client: TestClient, settings: Settings, row: list[Any]
) -> None:
    body = json.dumps({"instances": [row] * 2000})
    assert len(body) > settings.max_request_bytes
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.json()["error"]


def test_body_over_limit_without_content_length_is_413(client: TestClient, row: list[Any]) -> None:
    # A generator body goes out chunked, with no Content-Length: the limit counts real bytes.
    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(2000):
            yield json.dumps(row).encode() + b","
        yield json.dumps(row).encode() + b"]}"

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.json()["error"]


def test_invalid_content_length_is_400() -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be reached")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-length", b"lots")]}
    asyncio.run(BodySizeLimit(app, max_bytes=10)(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"Content-Length" in sent[1]["body"]


# ---------------------------------------------------------------------------------------------
# The real entry point: `python -m <package>.serve`
# ---------------------------------------------------------------------------------------------


def test_python_dash_m_serve_listens_on_port(
    start_server: Callable[..., Any], signature: Signature, rows: list[list[Any]], model: Model
) -> None:
    server = start_server(MODEL_NAME="another-name")
    with httpx2.Client(base_url=server.url, timeout=10, trust_env=False) as http:
        response = http.post("/v2/models/another-name/infer", json=v2_body(signature, rows))
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == expected(model, rows)
    server.process.terminate()
    server.process.wait(timeout=30)
    assert "/v2/models/another-name/infer" in server.output()  # one access-log line per request
