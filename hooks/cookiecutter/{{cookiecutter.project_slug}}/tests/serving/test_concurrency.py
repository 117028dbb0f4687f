{% set package_name = cookiecutter.package_name %}"""The service under concurrency: shared model calls, overload, metrics, SIGTERM and workers."""

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from prometheus_client.parser import text_string_to_metric_families

from {{ package_name }}.serving.artifact import Model
from {{ package_name }}.serving.service import create_app
from {{ package_name }}.serving.settings import Settings
from {{ package_name }}.serving.signature import Signature

# A structured-syntax JSON type is JSON to FastAPI but not to the fast path (which takes
# application/json, or no Content-Type at all, as OIP clients send it): such a request takes the
# FastAPI route, so a test can send the same request both ways.
FAST = {"content-type": "application/json"}
ROUTED = {"content-type": "application/vnd.dsdeploy+json"}


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse Prometheus text into {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def distinct_inputs(rows: list[list[Any]], count: int) -> list[NDArray[Any]]:
    """``count`` inputs of 1 to 4 rows, each a different slice (and size) of the real data."""
    table = np.asarray(rows, dtype=object)
    return [np.roll(table, -i, axis=0)[: 1 + i % 4] for i in range(count)]


def v2(matrix: NDArray[Any], signature: Signature) -> dict[str, Any]:
    return {"inputs": _tensors(signature, matrix.tolist(), "FP64")}


def asgi_client(app: FastAPI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://service")


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (requests are all queued, say)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


# ---------------------------------------------------------------------------------------------
# Each caller gets exactly its own rows back
# ---------------------------------------------------------------------------------------------


def test_concurrent_requests_share_a_model_call_and_get_their_own_answers(
    settings: Settings, model: Model, rows: list[list[Any]]
) -> None:
    inputs = distinct_inputs(rows, 24)
    total = sum(len(x) for x in inputs)
    # The batch goes when it holds every row (or after a minute): one call, whatever the timing.
    app = create_app(replace(settings, batch_max_size=total, batch_max_wait_ms=60_000), model=model)

    async def call(client: httpx2.AsyncClient, i: int, x: NDArray[Any]) -> list[Any]:
        # Both routes, each by both ways in, all in the same batch.
        headers = FAST if i % 4 < 2 else ROUTED
        if i % 2:
            response = await client.post("/predict", json={"instances": x.tolist()}, headers=headers)
            assert response.status_code == 200, response.text
            return list(response.json()["predictions"])
        response = await client.post(
            f"/v2/models/{settings.model_name}/infer", json=v2(x, model.signature), headers=headers
        )
        assert response.status_code == 200, response.text
        return list(response.json()["outputs"][0]["data"])

    async def scenario() -> tuple[list[list[Any]], str]:
        async with asgi_client(app) as client:
            answers = await asyncio.gather(*(call(client, i, x) for i, x in enumerate(inputs)))
            return answers, (await client.get("/metrics")).text

    answers, metrics = asyncio.run(scenario())
    for x, answer in zip(inputs, answers, strict=True):
        assert answer == model.predict(x).tolist()
    samples = metric_samples(metrics)
    assert sample(samples, "inference_batch_requests_count") == 1
    assert sample(samples, "inference_batch_requests_sum") == len(inputs)
    assert sample(samples, "inference_batch_rows_sum") == total


def test_concurrent_requests_with_default_batching_get_their_own_answers(
    settings: Settings, model: Model, rows: list[list[Any]]
) -> None:
    inputs = distinct_inputs(rows, 40)
    app = create_app(settings, model=model)

    async def scenario() -> list[httpx2.Response]:
        async with asgi_client(app) as client:
            return await asyncio.gather(
                *(client.post("/predict", json={"instances": x.tolist()}, headers=FAST) for x in inputs)
            )

    for x, response in zip(inputs, asyncio.run(scenario()), strict=True):
        assert response.json() == {"predictions": model.predict(x).tolist()}


# ---------------------------------------------------------------------------------------------
# Overload
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [FAST, ROUTED], ids=["fast-path", "route"])
def test_full_queue_is_503_with_retry_after(
    settings: Settings, model: Model, rows: list[list[Any]], headers: dict[str, str]
) -> None:
    # Two requests wait for a batch that only fills after a minute; a third finds the queue full.
    app = create_app(
        replace(settings, queue_max_size=2, batch_max_size=1000, batch_max_wait_ms=60_000), model=model
    )
    inputs = distinct_inputs(rows, 3)

    async def scenario() -> tuple[httpx2.Response, list[httpx2.Response]]:
        async with asgi_client(app) as client:
            waiting = [
                asyncio.ensure_future(
                    client.post("/predict", json={"instances": x.tolist()}, headers=headers)
                )
                for x in inputs[:2]
            ]
            await until(lambda: app.state.batcher.depth == 2)
            refused = await client.post("/predict", json={"instances": inputs[2].tolist()}, headers=headers)
            app.state.batcher.drain()
            return refused, list(await asyncio.gather(*waiting))

    refused, served = asyncio.run(scenario())
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "overloaded" in refused.json()["error"]
    # The queued ones are answered as usual.
    for x, response in zip(inputs, served, strict=False):
        assert response.json() == {"predictions": model.predict(x).tolist()}


# ---------------------------------------------------------------------------------------------
# The fast path answers exactly as the routes do
# ---------------------------------------------------------------------------------------------


def _tensors(signature: Signature, rows: list[list[Any]], datatype: str) -> list[dict[str, Any]]:
    if signature.numeric:
        flat = [value for row in rows for value in row]
        return [
            {"name": "x", "shape": [len(rows), len(signature.columns)], "datatype": datatype, "data": flat}
        ]
    return [
        {"name": c.name, "shape": [len(rows)], "datatype": c.datatype, "data": [row[i] for row in rows]}
        for i, c in enumerate(signature.columns)
    ]


SAME_ANSWERS = [
    pytest.param("/predict", lambda s, rows: {"instances": rows[:2]}, id="predict"),
    pytest.param(
        "/predict",
        lambda s, rows: {"instances": [dict(zip(s.names, row, strict=True)) for row in rows[:2]]},
        id="predict-keyed",
    ),
    pytest.param(
        "{model_url}/infer",
        lambda s, rows: {"id": "a", "inputs": _tensors(s, rows[:2], "FP32")},
        id="infer-flat",
    ),
    pytest.param(
        "{model_url}/infer",
        lambda s, rows: {
            "id": "b",
            "inputs": _tensors(s, rows[:1], "FP64"),
            "outputs": [{"name": "predict_proba"}, {"name": "predict"}]
            if s.task == "classification"
            else None,
        },
        id="infer-both-outputs",
    ),
]


@pytest.mark.parametrize(("path", "make_body"), SAME_ANSWERS)
def test_fast_path_answers_like_the_route(
    client: TestClient,
    model_url: str,
    signature: Signature,
    rows: list[list[Any]],
    path: str,
    make_body: Callable[[Signature, list[list[Any]]], Any],
) -> None:
    body = make_body(signature, rows)
    url = path.format(model_url=model_url)
    fast = client.post(url, json=body, headers=FAST)
    routed = client.post(url, json=body, headers=ROUTED)
    assert fast.status_code == routed.status_code == 200
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert fast.json() == routed.json()


def test_requests_the_fast_path_declines_still_get_the_routes_errors(
    client: TestClient, model_url: str
) -> None:
    # Well-formed JSON that fails validation, sent the fast way: the route's message comes back.
    response = client.post(f"{model_url}/infer", json={"inputs": []}, headers=FAST)
    assert response.status_code == 422
    assert "exactly one input" in response.json()["error"]
    response = client.post("/predict", content=b"{oops", headers=FAST)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_and_status(
    settings: Settings, model_url: str, row: list[Any]
) -> None:
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert client.post("/predict", json={"instances": [row]}).status_code == 200
        assert client.post(f"{model_url}/infer", json={"inputs": []}).status_code == 422
        assert client.get("/v2/models/other-model").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)
    assert sample(samples, "http_requests_total", route="/predict", method="POST", status="200") == 3
    assert (
        sample(
            samples, "http_requests_total", route="/v2/models/{model_name}/infer", method="POST", status="422"
        )
        == 1
    )
    # Templates, never raw paths: a client cannot mint new series.
    assert (
        sample(samples, "http_requests_total", route="/v2/models/{model_name}", method="GET", status="404")
        == 1
    )
    assert sample(samples, "http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert not any("other-model" in str(labels) or "/no/such" in str(labels) for _, labels in samples)
    latency = sample(
        samples, "http_request_duration_seconds_count", route="/predict", method="POST", status="200"
    )
    assert latency == 3
    assert sample(samples, "inference_batch_rows_sum") == 3
    assert sample(samples, "inference_queue_depth") == 0
    assert ("inference_queue_depth", ()) in samples


# ---------------------------------------------------------------------------------------------
# The real server: SIGTERM and several workers
# ---------------------------------------------------------------------------------------------


async def queue_depth(client: httpx2.AsyncClient) -> float:
    return sample(metric_samples((await client.get("/metrics")).text), "inference_queue_depth")


def test_sigterm_finishes_every_accepted_request(
    start_server: Callable[..., Any], model: Model, rows: list[list[Any]]
) -> None:
    inputs = distinct_inputs(rows, 16)
    # Batches wait up to 10 s for 10,000 rows: the requests are certainly in flight, queued in
    # the server, when SIGTERM arrives; it must flush them at once and answer every one.
    server = start_server(BATCH_MAX_WAIT_MS="10000", BATCH_MAX_SIZE="10000")

    async def scenario() -> list[httpx2.Response]:
        async with httpx2.AsyncClient(base_url=server.url, timeout=60, trust_env=False) as client:
            tasks = [
                asyncio.ensure_future(client.post("/predict", json={"instances": x.tolist()})) for x in inputs
            ]
            deadline = time.monotonic() + 120
            while await queue_depth(client) < len(inputs):
                assert not any(task.done() for task in tasks), "answered before SIGTERM"
                assert time.monotonic() < deadline, "the requests never all reached the queue"
                await asyncio.sleep(0.05)
            server.process.send_signal(signal.SIGTERM)
            # A reset connection or a truncated answer raises here and fails the test.
            return await asyncio.gather(*tasks)

    responses = asyncio.run(scenario())
    assert [response.status_code for response in responses] == [200] * len(inputs)
    for x, response in zip(inputs, responses, strict=True):
        assert response.json() == {"predictions": model.predict(x).tolist()}
    # uvicorn re-raises the signal once it has shut down cleanly, hence -SIGTERM rather than 0.
    assert server.process.wait(timeout=60) in {0, -signal.SIGTERM}
    # They were answered because SIGTERM flushed the queue, not because the 10 s wait ran out.
    assert f"shutting down: answering the {len(inputs)} queued requests now" in server.output()
    assert "Finished server process" in server.output()
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{server.url}/v2/health/live", trust_env=False)


def test_workers_share_the_port_and_their_metrics(
    start_server: Callable[..., Any], model: Model, row: list[Any]
) -> None:
    one_row = [row]
    server = start_server(WORKERS="2")
    # Ready means one worker is up; the test is about two, so wait for the second as well.
    server.wait_for_workers(2)
    with httpx2.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        for _ in range(8):
            response = http.post("/predict", json={"instances": one_row}, headers={"connection": "close"})
            assert response.json() == {"predictions": model.predict(one_row).tolist()}
        samples = metric_samples(http.get("/metrics").text)
    # New connections land on either worker; the count adds up both.
    assert sample(samples, "http_requests_total", route="/predict", method="POST", status="200") == 8
    server.process.terminate()
    assert server.process.wait(timeout=60) in {0, -signal.SIGTERM}
    pids = {
        line.split("[")[1].split("]")[0]
        for line in server.output().splitlines()
        if "Started server process" in line
    }
    assert len(pids) == 2
