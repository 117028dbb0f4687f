"""The drift rules (issue 32) in Prometheus' own engine: promtool's rule tests on synthetic series.

The chart's rules as the default values render them (a 1 h window, FeatureDrift after 15 min), fed
a category column served by two pods, half of its rows a category training never saw
(``<unseen>``: training share 0, floored at 1e-4), a numeric column served as at training, and
another release's job. The unseen share is summed over the pods, the steady column's PSI is 0,
FeatureDrift fires for the category column alone with its annotations filled in, and the other
release's rows do not count. Milliseconds: no service, no Prometheus server.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.process import run
from generator.tools import require

pytestmark = pytest.mark.prometheus

#: Minutes of series: the default window (1 h) full, and FeatureDrift past its 15 min.
MINUTES = 120


def _series(name: str, **labels: str) -> str:
    return name + "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def test_rules_count_an_unseen_category_over_every_pod(monitoring: Any, tmp_path: Path) -> None:
    release = {"namespace": "models", "job": monitoring.fullname}
    shares = {
        "colour": {"red": 0.5, "blue": 0.5, "<other>": 0.0, "<unseen>": 0.0, "<missing>": 0.0},
        "size": {"00 < 1": 0.5, "01 >= 1": 0.5, "<missing>": 0.0},
    }
    served = {("a", "colour", "red"), ("a", "colour", "<unseen>"), ("b", "colour", "blue")}
    served |= {("b", "colour", "<unseen>"), ("a", "size", "00 < 1"), ("a", "size", "01 >= 1")}
    inputs = []
    for pod in "ab":
        for feature, bins in shares.items():
            for name, share in bins.items():
                where = {**release, "instance": pod, "feature": feature, "bin": name}
                rate = 10 if (pod, feature, name) in served else 0  # rows a minute
                inputs.append(
                    {
                        "series": _series("model_drift_feature_rows_total", **where),
                        "values": f"0+{rate}x{MINUTES}",
                    }
                )
                series = _series("model_drift_feature_reference_share", **where)
                inputs.append({"series": series, "values": f"{share}x{MINUTES}"})
    other = {
        "namespace": "models",
        "job": "another-model",
        "instance": "c",
        "feature": "colour",
        "bin": "<unseen>",
    }
    inputs.append(
        {"series": _series("model_drift_feature_rows_total", **other), "values": f"0+1000x{MINUTES}"}
    )
    live = {"red": 0.25, "blue": 0.25, "<other>": 0.0, "<unseen>": 0.5, "<missing>": 0.0}
    floored = {name: (max(live[name], 1e-4), max(ref, 1e-4)) for name, ref in shares["colour"].items()}
    psi = sum((served_share - ref) * math.log(served_share / ref) for served_share, ref in floored.values())
    [rule] = [
        rule
        for group in monitoring.rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "FeatureDrift"
    ]
    annotations = {
        key: text.replace("{{ $labels.feature }}", "colour").replace(
            '{{ printf "%.2f" $value }}', f"{psi:.2f}"
        )
        for key, text in rule["annotations"].items()
    }
    unseen = {**release, "feature": "colour", "bin": "<unseen>"}
    expressions = [
        ('model:drift_feature_share{bin="<unseen>"}', _series("model:drift_feature_share", **unseen), 0.5),
        (
            'model:drift_feature_psi{feature="size"}',
            _series("model:drift_feature_psi", **release, feature="size"),
            0,
        ),
    ]
    case = {
        "interval": "1m",
        "input_series": inputs,
        "promql_expr_test": [
            {"expr": expr, "eval_time": f"{MINUTES}m", "exp_samples": [{"labels": labels, "value": value}]}
            for expr, labels, value in expressions
        ],
        "alert_rule_test": [
            {
                "alertname": "FeatureDrift",
                "eval_time": f"{MINUTES}m",
                "exp_alerts": [
                    {
                        "exp_labels": {**rule["labels"], **release, "feature": "colour"},
                        "exp_annotations": annotations,
                    }
                ],
            }
        ],
    }
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [case]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(monitoring.rules), encoding="utf-8")
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = run([require("promtool"), "test", "rules", "test.yaml"], cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
