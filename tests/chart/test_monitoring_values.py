"""The optional Grafana dashboard ConfigMap and PrometheusRule (issue 18 item 4), as rendered.

Their queries are run against a real Prometheus in tests/monitoring; here: what the values
switch on, the labels the kube-prometheus-stack sidecar and ruleSelector look for, and the
thresholds and selectors that reach the alerts; the drift recording rules (issue 32) as the
dashboard and the alerts read them.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from generator.chart.helm import Chart
from generator.chart.manifests import ManifestChecker
from generator.project.render import read_answers

Manifests = list[dict[str, Any]]
ALERTS = [
    "ModelServiceErrorRatioHigh",
    "ModelServiceLatencyHigh",
    "ModelServiceQueueNearFull",
    "ModelServiceNoReadyReplicas",
    "FeatureDrift",
    "PredictionDrift",
]
DRIFT_RECORDS = [
    "model:drift_feature_share",
    "model:drift_feature_psi",
    "model:drift_prediction_share",
    "model:drift_prediction_psi",
]


def _dashboard(manifests: Manifests) -> dict[str, Any]:
    [config_map] = [
        doc for doc in manifests if doc["kind"] == "ConfigMap" and "dashboard" in doc["metadata"]["name"]
    ]
    return config_map


def _alerts(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["alert"]: item for group in rule["spec"]["groups"] for item in group["rules"] if "alert" in item
    }


def _records(rule: dict[str, Any]) -> dict[str, str]:
    return {
        item["record"]: item["expr"]
        for group in rule["spec"]["groups"]
        for item in group["rules"]
        if "record" in item
    }


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
    for name in [*ALERTS[:3], *ALERTS[4:]]:
        assert job in alerts[name]["expr"], name
        assert namespace in alerts[name]["expr"], name
    for name in ALERTS[:2]:
        assert "[10m]" in alerts[name]["expr"], name
    assert f'deployment="{deployment["metadata"]["name"]}"' in alerts["ModelServiceNoReadyReplicas"]["expr"]
    thresholds = {
        name: re.search(r"([<>])\s*([0-9.]+)\s*$", item["expr"]).groups() for name, item in alerts.items()
    }
    assert thresholds == {
        "ModelServiceErrorRatioHigh": (">", "0.02"),
        "ModelServiceLatencyHigh": (">", "0.5"),
        "ModelServiceQueueNearFull": (">", "0.9"),
        "ModelServiceNoReadyReplicas": ("<", "1"),
        "FeatureDrift": (">", "0.25"),
        "PredictionDrift": (">", "0.25"),
    }
    # limits.cpu 1500m: two workers (rounded up, as the Deployment's WORKERS), 512 places each.
    assert re.search(r"/ ([0-9]+) >", alerts["ModelServiceQueueNearFull"]["expr"]).group(1) == "1024"
    for name, item in alerts.items():
        assert item["for"] == ("30m" if "Drift" in name else "10m")
        assert item["labels"]["team"] == "data-science"
    assert alerts["FeatureDrift"]["labels"]["severity"] == "warning"
    assert alerts["ModelServiceNoReadyReplicas"]["labels"]["severity"] == "critical"
    assert alerts["ModelServiceErrorRatioHigh"]["labels"]["severity"] == "warning"


def test_drift_rules_count_the_values_window_for_this_release(
    rendered: Callable[[str], Manifests], only: Any, checker: ManifestChecker
) -> None:
    rule = only(rendered("monitoring"), "PrometheusRule")
    records = _records(rule)
    assert list(records) == DRIFT_RECORDS
    service = only(rendered("monitoring"), "Service")["metadata"]["name"]
    selector = f'{{namespace="{checker.namespace}", job="{service}"}}'
    # Every metric read is this release's; counters are read as increases over the window only.
    for name, expr in records.items():
        for metric, labels in re.findall(r"([a-z_:]+)(\{[^}]*\})", expr):
            assert labels == selector, (name, metric)
        assert set(re.findall(r"\[(\w+)\]", expr)) <= {"30m"}, name
        assert re.findall(r"increase\((\w+)", expr) == re.findall(r"(\w+_rows_total)", expr), name
    # Each pod's increase first, summed over the job: the instance label never splits a share.
    share = records["model:drift_feature_share"]
    assert "sum by (namespace, job, feature, bin) (increase(model_drift_feature_rows_total" in share
    assert share.endswith(">= 200)")
    assert (
        "sum by (namespace, job) (increase(model_drift_prediction_rows_total"
        in records["model:drift_prediction_share"]
    )
    assert "instance" not in " ".join(records.values())


def test_drift_rules_floor_shares_as_the_service_profile_does(
    rendered: Callable[[str], Manifests], only: Any, default_chart: Chart
) -> None:
    # serving/profile.py's psi floors every share at SHARE_FLOOR; the rules must use that floor.
    project = default_chart.path.parents[1]
    package = read_answers(project)["package_name"]
    source = (project / "src" / package / "serving" / "profile.py").read_text(encoding="utf-8")
    [floor] = [
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["SHARE_FLOOR"]
    ]
    records = _records(only(rendered("monitoring"), "PrometheusRule"))
    for name in ("model:drift_feature_psi", "model:drift_prediction_psi"):
        floors = re.findall(r"clamp_min\(.+?\), ([0-9.e-]+)\)", records[name])
        floors += re.findall(r"clamp_min\([a-z_:]+\{[^}]*\}, ([0-9.e-]+)\)", records[name])
        assert len(floors) == 4, name  # live and reference, in the difference and in the log
        assert {float(value) for value in floors} == {floor}, name


def test_dashboard_drift_panels_read_the_rules_records_and_a_chosen_feature(
    rendered: Callable[[str], Manifests], only: Any
) -> None:
    manifests = rendered("monitoring")
    dashboard = json.loads(next(iter(_dashboard(manifests)["data"].values())))
    records = set(_records(only(manifests, "PrometheusRule")))
    [row] = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    assert row["title"] == "Drift"
    drift = [panel for panel in dashboard["panels"] if panel["gridPos"]["y"] > row["gridPos"]["y"]]
    exprs = [target["expr"] for panel in drift for target in panel["targets"]]
    # The recorded names they read are the ones the rules record: a rename breaks this test.
    assert set(re.findall(r"model:\w+", " ".join(exprs))) <= records
    assert all('namespace="$namespace", job="$job"' in expr for expr in exprs)
    [chosen] = [panel for panel in drift if "$feature" in panel["title"]]
    assert [target["expr"].count('feature="$feature"') for target in chosen["targets"]] == [1, 1]
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["feature"]["query"]["query"].startswith(
        "label_values(model_drift_feature_reference_share{"
    )
    [profile] = [panel for panel in drift if "model_drift_reference_rows" in panel["targets"][0]["expr"]]
    [mapping] = profile["fieldConfig"]["defaults"]["mappings"]
    assert mapping["options"]["0"]["text"] == "no reference profile"


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
        ({"monitoring": {"drift": {"threshold": 0}}}, "threshold"),
        ({"monitoring": {"drift": {"minRows": 0}}}, "minRows"),
        ({"monitoring": {"drift": {"window": "1 hour"}}}, "window"),
        ({"monitoring": {"drift": {"features": 10}}}, "features"),
    ],
    ids=[
        "ratio-above-one",
        "bad-window",
        "bad-label-key",
        "unknown-key",
        "drift-threshold-zero",
        "drift-no-rows",
        "drift-bad-window",
        "drift-unknown-key",
    ],
)
def test_schema_refuses_bad_monitoring_values(
    refusal: Callable[[dict[str, Any]], str], values: dict[str, Any], key: str
) -> None:
    assert key in refusal(values)
