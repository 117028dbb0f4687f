"""Every dashboard query and alert expression of the chart, evaluated by a real Prometheus.

The stack (conftest) scrapes the default project's service and a replica with a planted fault
every second. A few seconds of load built from the signature's example (``/predict`` and the v2
infer route, plus 4xx: a wrong row width and an unknown model) feed it; then each dashboard
target and each alert's measure must return samples. Grafana's ``$__rate_interval`` is replaced
by ``[15s]`` (fifteen scrapes at the 1 s interval; Grafana would pick four scrape intervals or
more), ``$namespace`` and ``$job`` by the labels the scrape gives the replicas, ``$feature`` by the
profile's first column.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.process import run
from generator.tools import require

pytestmark = pytest.mark.prometheus

LOAD_SECONDS = 3.0
BURST_SECONDS = 3.0
RULES = 10  # six alerts, and the four drift records they and the dashboard read
# An alert's expr is "<measure> <comparison> <threshold>" (the chart's templates keep that form).
ALERT_FORM = re.compile(r"^(?P<measure>.+?)\s*(?P<op>[<>])\s*(?P<threshold>[0-9.]+)\s*$", re.DOTALL)


def _requests(stack: Any, base: str) -> list[tuple[str, Any]]:
    """One round of (url, JSON body or None for a GET) from the signature's example."""
    rows = stack.example["instances"]
    [tensor] = stack.inputs
    infer = {
        "inputs": [
            {
                "name": tensor["name"],
                "datatype": tensor["datatype"],
                "shape": [len(rows), len(rows[0])],
                "data": [value for row in rows for value in row],
            }
        ]
    }
    return [
        (f"{base}/predict", {"instances": rows}),
        (f"{base}/v2/models/{stack.model_name}/infer", infer),
        (f"{base}/predict", {"instances": [row[:-1] for row in rows]}),  # a column short: 422
        (f"{base}/v2/models/not-{stack.model_name}", None),  # no such model: 404
    ]


def _drive(stack: Any, seconds: float, threads: int = 4) -> dict[int, int]:
    """Send rounds of requests to both replicas from ``threads`` threads; statuses counted."""
    counts: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            for base in (stack.healthy, stack.faulty):
                for url, body in _requests(stack, base):
                    status = stack.send(url, body)
                    with lock:
                        counts[status] = counts.get(status, 0) + 1
            time.sleep(0.01)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def _settle(stack: Any, expected: int) -> None:
    """Wait until Prometheus has scraped every answered request (both replicas' counters)."""
    deadline = time.monotonic() + 15
    expr = 'sum(http_requests_total{route!="/metrics"})'
    while time.monotonic() < deadline:
        result = stack.query(expr)
        # The start-up's readiness checks and the metadata call add a few to the load's count.
        if result and float(result[0]["value"][1]) >= expected:
            return
        time.sleep(0.3)
    pytest.fail(f"Prometheus did not see the {expected} requests of the load within 15 s")


@pytest.fixture(scope="module")
def loaded(stack: Any) -> dict[int, int]:
    """The stack after the load, scraped; the statuses the load got."""
    counts = _drive(stack, LOAD_SECONDS)
    _settle(stack, sum(counts.values()))
    return counts


def _feature(stack: Any) -> str:
    """The dashboard's ``$feature`` here: the profile's first column."""
    return str(stack.profile["features"][0]["name"])


def _alerts(monitoring: Any) -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in monitoring.rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_the_load_got_the_statuses_it_was_built_for(loaded: dict[int, int]) -> None:
    # Every round sends two 200s, one 422 (a row too short) and one 404 to each replica.
    assert set(loaded) == {200, 422, 404}
    assert loaded[200] == 2 * loaded[422] == 2 * loaded[404]


def test_every_dashboard_query_returns_data(stack: Any, monitoring: Any, loaded: dict[int, int]) -> None:
    targets = monitoring.targets()
    assert len(targets) >= 9
    empty = [
        (name, monitoring.grafana(expr, _feature(stack)))
        for name, expr in targets
        if not stack.query(monitoring.grafana(expr, _feature(stack)))
    ]
    assert empty == []


def test_dashboard_variables_offer_the_scraped_namespace_and_job(
    stack: Any, monitoring: Any, loaded: dict[int, int]
) -> None:
    # label_values(metric{...}, label) is Grafana's; the label values API answers the same question.
    variables = {var["name"]: var for var in monitoring.dashboard["templating"]["list"]}
    for name, wanted in (("namespace", "models"), ("job", monitoring.fullname), ("feature", _feature(stack))):
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]["query"])
        assert match is not None, variables[name]
        selector, label = monitoring.grafana(match.group(1), _feature(stack)), match.group(2)
        assert label == name
        assert wanted in stack.get(f"/api/v1/label/{label}/values", **{"match[]": selector})


def test_every_alert_measure_returns_data(stack: Any, monitoring: Any, loaded: dict[int, int]) -> None:
    alerts = _alerts(monitoring)
    assert set(alerts) == {
        "ModelServiceErrorRatioHigh",
        "ModelServiceLatencyHigh",
        "ModelServiceQueueNearFull",
        "ModelServiceNoReadyReplicas",
        "FeatureDrift",
        "PredictionDrift",
    }
    # The error ratio has no 5xx to divide yet: its measure appears with the burst (next test).
    measures = {name: ALERT_FORM.match(rule["expr"]) for name, rule in alerts.items()}
    assert all(measures.values()), alerts
    empty = [
        name
        for name, match in measures.items()
        if name != "ModelServiceErrorRatioHigh" and not stack.query(match.group("measure"))
    ]
    assert empty == []


def test_no_ready_replicas_fires_for_this_deployment_only(
    stack: Any, monitoring: Any, loaded: dict[int, int]
) -> None:
    # Fed by the kube-state-metrics stand-in: this release's Deployment at 0 available, another at 2.
    result = stack.query(_alerts(monitoring)["ModelServiceNoReadyReplicas"]["expr"])
    assert [(sample["metric"]["deployment"], sample["value"][1]) for sample in result] == [
        (monitoring.fullname, "0")
    ]


def test_queue_alert_stays_quiet_under_a_light_load(
    stack: Any, monitoring: Any, loaded: dict[int, int]
) -> None:
    # Its measure returns data (above); the whole expression must not, with the queue near empty.
    assert stack.query(_alerts(monitoring)["ModelServiceQueueNearFull"]["expr"]) == []


def test_a_5xx_burst_lifts_the_error_ratio_above_its_threshold(
    stack: Any, monitoring: Any, loaded: dict[int, int]
) -> None:
    rule = _alerts(monitoring)["ModelServiceErrorRatioHigh"]
    threshold = float(ALERT_FORM.match(rule["expr"]).group("threshold"))
    assert stack.query(rule["expr"]) == []
    rows = stack.example["instances"]
    marked = {"instances": [[stack.mark, *rows[0][1:]]]}
    total = sum(loaded.values())
    burst = int(total * threshold * 3) + 10  # three times the threshold's share, whatever the load
    # Spread over a few scrapes, as a real burst is: rate() counts the increase between two
    # samples of a series, and a 500 series born and complete within one scrape never increases.
    start, statuses = time.monotonic(), set()
    for sent in range(burst):
        statuses.add(stack.send(f"{stack.faulty}/predict", marked))
        time.sleep(max(0.0, start + BURST_SECONDS * sent / burst - time.monotonic()))
    assert statuses == {500}
    deadline = time.monotonic() + 10
    while not (result := stack.query(rule["expr"])) and time.monotonic() < deadline:
        time.sleep(0.3)
    [sample] = result
    assert sample["metric"] == {"namespace": "models", "job": monitoring.fullname}
    assert float(sample["value"][1]) > threshold


def test_rules_load_and_evaluate_in_prometheus(stack: Any, loaded: dict[int, int]) -> None:
    groups = stack.get("/api/v1/rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == RULES
    assert [
        (rule["name"], rule["health"], rule.get("lastError", "")) for rule in rules if rule["health"] != "ok"
    ] == []


def test_promtool_checks_the_rendered_rules(monitoring: Any, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(monitoring.rules), encoding="utf-8")
    result = run([require("promtool"), "check", "rules", path], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {RULES} rules found" in result.stdout
