"""The optional Grafana dashboard ConfigMap and PrometheusRule (issue 18 item 4), as rendered.

Their queries are run against a real Prometheus in tests/monitoring; here: what the values
switch on, the labels the kube-prometheus-stack sidecar and ruleSelector look for, and the
thresholds and selectors that reach the alerts.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from generator.chart.helm import Chart
from generator.chart.manifests import ManifestChecker

Manifests = list[dict[str, Any]]
ALERTS = [
    "ModelServiceErrorRatioHigh",
    "ModelServiceLatencyHigh",
    "ModelServiceQueueNearFull",
    "ModelServiceNoReadyReplicas",
]


def _dashboard(manifests: Manifests) -> dict[str, Any]:
    [config_map] = [
        doc for doc in manifests if doc["kind"] == "ConfigMap" and "dashboard" in doc["metadata"]["name"]
    ]
    return config_map


def _alerts(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["alert"]: item for group in rule["spec"]["groups"] for item in group["rules"]}


def test_dashboard_and_rules_are_off_by_default(rendered: Callable[[str], Manifests]) -> None:
    for values_set in ("default", "full", "minimal"):
        manifests = rendered(values_set)
        assert "PrometheusRule" not in {doc["kind"] for doc in manifests}
        assert not [doc for doc in manifests if doc["kind"] == "ConfigMap"]


def test_dashboard_config_map_carries_the_sidecar_label_and_the_charts_json(
    rendered: Callable[[str], Manifests], default_chart: Chart
) -> None:
    config_map = _dashboard(rendered("monitoring"))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Models"}
    [(key, text)] = config_map["data"].items()
    assert key.endswith(".json")
    shipped = json.loads(
        (default_chart.path / "dashboards" / "model-service.json").read_text(encoding="utf-8")
    )
    dashboard = json.loads(text)
    # Only the uid and title are the release's; every panel and query is the chart file's.
    assert {k: v for k, v in dashboard.items() if k not in ("uid", "title")} == {
        k: v for k, v in shipped.items() if k != "title"
    }
    assert config_map["metadata"]["namespace"] in dashboard["title"]


def test_dashboard_label_is_configurable_and_the_uid_is_the_releases(
    render_with: Callable[[dict[str, Any]], Manifests], rendered: Callable[[str], Manifests]
) -> None:
    values = {
        "monitoring": {"dashboard": {"enabled": True, "labelKey": "example.com/dash", "labelValue": "yes"}}
    }
    config_map = _dashboard(render_with(values))
    assert config_map["metadata"]["labels"]["example.com/dash"] == "yes"
    assert "grafana_dashboard" not in config_map["metadata"]["labels"]
    other = _dashboard(render_with({**values, "fullnameOverride": "other-model"}))
    uids = {json.loads(next(iter(cm["data"].values())))["uid"] for cm in (config_map, other)}
    assert len(uids) == 2


def test_rules_select_this_release_with_the_values_thresholds(
    rendered: Callable[[str], Manifests], only: Any, checker: ManifestChecker
) -> None:
    manifests = rendered("monitoring")
    rule = only(manifests, "PrometheusRule")
    deployment = only(manifests, "Deployment")
    service = only(manifests, "Service")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = _alerts(rule)
    assert list(alerts) == ALERTS
    job = f'job="{service["metadata"]["name"]}"'
    namespace = f'namespace="{checker.namespace}"'
    for name in ALERTS[:3]:
        assert job in alerts[name]["expr"], name
        assert namespace in alerts[name]["expr"], name
        assert "[10m]" in alerts[name]["expr"] or name == "ModelServiceQueueNearFull"
    assert f'deployment="{deployment["metadata"]["name"]}"' in alerts["ModelServiceNoReadyReplicas"]["expr"]
    thresholds = {
        name: re.search(r"([<>])\s*([0-9.]+)\s*$", item["expr"]).groups() for name, item in alerts.items()
    }
    assert thresholds == {
        "ModelServiceErrorRatioHigh": (">", "0.02"),
        "ModelServiceLatencyHigh": (">", "0.5"),
        "ModelServiceQueueNearFull": (">", "0.9"),
        "ModelServiceNoReadyReplicas": ("<", "1"),
    }
    # limits.cpu 1500m: two workers (rounded up, as the Deployment's WORKERS), 512 places each.
    assert re.search(r"/ ([0-9]+) >", alerts["ModelServiceQueueNearFull"]["expr"]).group(1) == "1024"
    for item in alerts.values():
        assert item["for"] == "10m"
        assert item["labels"]["team"] == "data-science"
    assert alerts["ModelServiceNoReadyReplicas"]["labels"]["severity"] == "critical"
    assert alerts["ModelServiceErrorRatioHigh"]["labels"]["severity"] == "warning"


def test_grpc_server_faults_and_inference_latency_count_in_the_alerts(
    rendered: Callable[[str], Manifests], only: Any
) -> None:
    # gRPC calls carry their code's name as status and their method's path as route (serving's
    # metrics): the server's own faults and ModelInfer must count as HTTP's 5xx and infer do.
    alerts = _alerts(only(rendered("monitoring"), "PrometheusRule"))
    [status] = re.findall(r'status=~"([^"]+)"', alerts["ModelServiceErrorRatioHigh"]["expr"])
    codes = ("500", "503", "INTERNAL", "UNAVAILABLE", "422", "OK", "INVALID_ARGUMENT", "NOT_FOUND")
    counted = [code for code in codes if re.fullmatch(status, code)]
    assert counted == ["500", "503", "INTERNAL", "UNAVAILABLE"]
    [route] = re.findall(r'route=~"([^"]+)"', alerts["ModelServiceLatencyHigh"]["expr"])
    inference = ["/predict", "/v2/models/{model_name}/infer", "/inference.GRPCInferenceService/ModelInfer"]
    assert [bool(re.fullmatch(route, path)) for path in inference] == [True, True, True]
    assert not re.fullmatch(route, "/inference.GRPCInferenceService/ServerReady")


def test_prometheus_rule_is_checked_against_the_operators_crd(
    rendered: Callable[[str], Manifests], only: Any, checker: ManifestChecker
) -> None:
    rule = copy.deepcopy(only(rendered("monitoring"), "PrometheusRule"))
    assert checker.schemas.validate(rule) == []
    # A rule field the operator does not know: the API server would refuse it at install.
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "warning"
    [problem] = checker.schemas.validate(rule)
    assert problem.version == "crd"
    assert "severity" in problem.message


@pytest.mark.parametrize(
    ("values", "capacity"),
    [
        ({"serving": {"workers": 3, "queueMaxSize": 100}}, 300),
        ({"resources": {"limits": {"cpu": "2"}}}, 1024),
        ({"resources": {"limits": {"cpu": None}}}, 512),
    ],
    ids=["workers-set", "whole-cpus", "no-cpu-limit"],
)
def test_queue_alert_counts_every_workers_queue(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any, values: dict[str, Any], capacity: int
) -> None:
    rule = only(render_with({"monitoring": {"rules": {"enabled": True}}, **values}), "PrometheusRule")
    expr = _alerts(rule)["ModelServiceQueueNearFull"]["expr"]
    assert re.search(r"/ ([0-9]+) >", expr).group(1) == str(capacity)


def test_alert_labels_may_replace_the_severity(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    values = {"monitoring": {"rules": {"enabled": True, "alertLabels": {"severity": "page"}}}}
    alerts = _alerts(only(render_with(values), "PrometheusRule"))
    assert {item["labels"]["severity"] for item in alerts.values()} == {"page"}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"monitoring": {"rules": {"errorRatio": 5}}}, "errorRatio"),
        ({"monitoring": {"rules": {"window": "five minutes"}}}, "window"),
        ({"monitoring": {"dashboard": {"labelKey": "not a label"}}}, "labelKey"),
        ({"monitoring": {"rules": {"severity": "page"}}}, "severity"),
    ],
    ids=["ratio-above-one", "bad-window", "bad-label-key", "unknown-key"],
)
def test_schema_refuses_bad_monitoring_values(
    refusal: Callable[[dict[str, Any]], str], values: dict[str, Any], key: str
) -> None:
    assert key in refusal(values)
