"""Serving values reach the server's environment; the optional ServiceMonitor scrapes /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from generator.chart.helm import Chart

Manifests = list[dict[str, Any]]


def server_env(manifests: Manifests, only: Any) -> dict[str, dict[str, Any]]:
    [container] = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


def test_defaults_set_batching_workers_and_shutdown(
    rendered: Callable[[str], Manifests], only: Any, default_chart: Chart
) -> None:
    values = yaml.safe_load((default_chart.path / "values.yaml").read_text(encoding="utf-8"))
    env = server_env(rendered("default"), only)
    serving = values["serving"]
    assert env["BATCH_MAX_SIZE"]["value"] == str(serving["batchMaxSize"])
    assert env["BATCH_MAX_WAIT_MS"]["value"] == str(serving["batchMaxWaitMs"])
    assert env["QUEUE_MAX_SIZE"]["value"] == str(serving["queueMaxSize"])
    assert env["DRIFT_FEATURES"]["value"] == str(serving["driftFeatures"]) == "50"
    # workers: 0 means one per CPU of the container's limit, read through the downward API.
    assert env["WORKERS"]["valueFrom"]["resourceFieldRef"] == {
        "containerName": "server",
        "resource": "limits.cpu",
        "divisor": "1",
    }
    # The server gives up on stragglers before the kubelet's SIGKILL.
    assert int(env["SHUTDOWN_TIMEOUT"]["value"]) == values["terminationGracePeriodSeconds"] - 5


def test_serving_values_override_the_environment(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    manifests = render_with(
        {
            "serving": {
                "batchMaxSize": 64,
                "batchMaxWaitMs": 2.5,
                "queueMaxSize": 100,
                "workers": 3,
                "driftFeatures": 0,
            },
            "payloadLog": {"sampleRate": 0.05},
            "terminationGracePeriodSeconds": 60,
        }
    )
    env = server_env(manifests, only)
    assert {name: item.get("value") for name, item in env.items()}.items() >= {
        "BATCH_MAX_SIZE": "64",
        "BATCH_MAX_WAIT_MS": "2.5",
        "QUEUE_MAX_SIZE": "100",
        "WORKERS": "3",
        "SHUTDOWN_TIMEOUT": "55",
        "PAYLOAD_LOG_RATE": "0.05",
        "DRIFT_FEATURES": "0",
    }.items()


def test_no_cpu_limit_starts_one_worker_not_one_per_node_cpu(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    # Without a CPU limit the downward API's limits.cpu is the node's allocatable CPUs.
    env = server_env(render_with({"resources": {"limits": {"cpu": None}}}), only)
    assert env["WORKERS"] == {"name": "WORKERS", "value": "1"}
    # serving.workers still wins.
    env = server_env(render_with({"resources": {"limits": {"cpu": None}}, "serving": {"workers": 4}}), only)
    assert env["WORKERS"] == {"name": "WORKERS", "value": "4"}


def test_service_monitor_is_off_by_default(rendered: Callable[[str], Manifests]) -> None:
    for values_set in ("default", "full", "minimal"):
        assert "ServiceMonitor" not in {doc["kind"] for doc in rendered(values_set)}


def test_service_monitor_scrapes_the_server_service(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    manifests = render_with({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "http"
    assert endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"serving": {"batchMaxSize": 0}}, "batchMaxSize"),
        ({"serving": {"batchMaxWaitMs": -1}}, "batchMaxWaitMs"),
        ({"serving": {"workers": "auto"}}, "workers"),
        ({"serving": {"maxBatch": 8}}, "maxBatch"),
        ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "interval"),
        ({"payloadLog": {"sampleRate": 1.5}}, "sampleRate"),
        ({"serving": {"driftFeatures": 1001}}, "driftFeatures"),
    ],
    ids=[
        "batch-size-zero",
        "negative-wait",
        "workers-not-integer",
        "unknown-key",
        "bad-interval",
        "log-rate-above-1",
        "drift-features-above-1000",
    ],
)
def test_schema_refuses_bad_serving_values(
    refusal: Callable[[dict[str, Any]], str], values: dict[str, Any], key: str
) -> None:
    assert key in refusal(values)
