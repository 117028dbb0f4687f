"""Drift (issue 32) on a real Prometheus: the chart's PSI recording rules and drift alerts.

The stack (conftest) scrapes the default project's service every second, its rules rendered with
a drift window of a few seconds and the alerts' ``for`` at one. Two phases of traffic, each
longer than the window: rows drawn from the project's own training data (its ``load_dataset``,
so the answers are distributed as on the training rows too), then the same rows with one feature
moved by two of its standard deviations. In the first, no feature's PSI (recorded by Prometheus)
reaches the threshold and FeatureDrift's expression returns nothing; in the second, that
feature's PSI crosses it, the expression returns that feature and no other, and the alert fires
naming it. The PSI Prometheus records is serving/profile.py's ``psi`` of the shares it recorded.
The figures are printed (``-s``) and kept in the junit properties (``drift-psi-steady``,
``drift-psi-shifted``, ``drift-prediction-psi``; ``--junitxml -o junit_family=legacy``).

A category training never saw: the default project is numeric, so the service counting one into
``<unseen>`` is proven by the template's fast tests (tests/serving/test_drift.py, on the table
swap too), and the rules' handling of it by test_drift_rules.py; a table model's service here
would cost a second project's sync and training.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.services import wait_until

from generator.project.render import read_answers

pytestmark = pytest.mark.prometheus

WINDOW_SECONDS = 4
THRESHOLD = 0.2
ROWS_PER_REQUEST = 50
REQUESTS_PER_SECOND = 10
OBSERVE_SECONDS = 1.5
SHIFT_SDS = 2.0
# The project's own Python: its training rows as one JSON line (loaded while the stack starts),
# then serving/profile.py's psi of each (reference shares, live shares) pair it is sent.
PROJECT_PYTHON = """
import json, sys
from {package}.serving.profile import psi
from {package}.train import load_dataset
data = load_dataset()
print(json.dumps({{"x": data.x.tolist(), "names": list(data.feature_names)}}), flush=True)
for reference, live in json.load(sys.stdin):
    print(psi(reference, live))
"""


@pytest.fixture(scope="module")
def project_python(
    local_service: Callable[[Path], Any], default_project: Path
) -> Iterator[subprocess.Popen[str]]:
    """:data:`PROJECT_PYTHON` running in the default project's environment."""
    service = local_service(default_project)
    package = read_answers(service.project)["package_name"]
    command = [service.python, "-c", PROJECT_PYTHON.format(package=package)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def monitoring_values() -> dict[str, Any]:
    """The rules with a drift window shorter than a phase, the alerts firing after a second."""
    drift = {"window": f"{WINDOW_SECONDS}s", "minRows": 200, "threshold": THRESHOLD, "for": "1s"}
    return {"monitoring": {"dashboard": {"enabled": True}, "rules": {"enabled": True}, "drift": drift}}


class Traffic(threading.Thread):
    """Rows of the training data sent to ``/predict`` at a steady pace; ``shift`` moves one column."""

    def __init__(self, send: Callable[[str, Any], int], url: str, rows: list[list[float]]) -> None:
        super().__init__(daemon=True)
        self.send, self.url, self.rows = send, url, rows
        self.shift: tuple[int, float] | None = None  # (column, amount)
        self.statuses: dict[int, int] = {}
        self.done = threading.Event()
        self.random = random.Random(32)

    def run(self) -> None:
        while not self.done.wait(1 / REQUESTS_PER_SECOND):
            rows = [list(row) for row in self.random.choices(self.rows, k=ROWS_PER_REQUEST)]
            if self.shift is not None:
                column, amount = self.shift
                for row in rows:
                    row[column] += amount
            status = self.send(f"{self.url}/predict", {"instances": rows})
            self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass
class Phase:
    """What Prometheus answered during one phase: samples taken every half second."""

    psi: dict[str, list[float]] = field(default_factory=dict)  # feature -> recorded PSIs
    prediction_psi: list[float] = field(default_factory=list)
    fired: list[list[str]] = field(default_factory=list)  # FeatureDrift's expression: features
    alerts: list[dict[str, Any]] = field(default_factory=list)  # active FeatureDrift alerts at the end

    def worst(self) -> dict[str, float]:
        """Each feature's highest PSI of the phase, rounded for the report."""
        return {feature: round(max(values), 4) for feature, values in self.psi.items()}


@dataclass(frozen=True)
class Drift:
    """The two phases, the shifted feature among all, the recorded PSIs beside profile.py's, the panels."""

    steady: Phase
    shifted: Phase
    feature: str
    features: list[str]
    psi_pairs: list[tuple[float, float]]  # (recorded by Prometheus, profile.py's psi), per feature
    panels: dict[str, list[dict[str, Any]]]  # the Drift row's queries, the shifted feature picked


def _observe(stack: Any, alert_expr: str, seconds: float) -> Phase:
    phase = Phase()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sample in stack.query('model:drift_feature_psi{namespace="models"}'):
            phase.psi.setdefault(sample["metric"]["feature"], []).append(float(sample["value"][1]))
        phase.prediction_psi += [float(s["value"][1]) for s in stack.query("model:drift_prediction_psi")]
        phase.fired.append(sorted(sample["metric"]["feature"] for sample in stack.query(alert_expr)))
        time.sleep(0.5)
    phase.alerts = [
        alert
        for alert in stack.get("/api/v1/alerts")["alerts"]
        if alert["labels"]["alertname"] == "FeatureDrift"
    ]
    return phase


def _recorded_and_profile_psi(
    stack: Any, project_python: subprocess.Popen[str], features: list[str]
) -> list[tuple[float, float]]:
    """Per feature, the PSI Prometheus recorded and profile.py's psi of the shares recorded with it."""
    cases, recorded = [], []
    for feature in features:
        selector = f'{{namespace="models", feature="{feature}"}}'
        [psi] = stack.query(f"model:drift_feature_psi{selector}[3s]")
        stamp, value = psi["values"][-1]
        # The shares of the same evaluation (a group's rules share its timestamp).
        live = {
            sample["metric"]["bin"]: float(value_at)
            for sample in stack.query(f"model:drift_feature_share{selector}[3s]")
            for at, value_at in sample["values"]
            if at == stamp
        }
        reference = {
            sample["metric"]["bin"]: float(sample["value"][1])
            for sample in stack.query(f"max by (bin) (model_drift_feature_reference_share{selector})")
        }
        assert set(live) == set(reference), feature
        bins = sorted(reference)
        cases.append(([reference[b] for b in bins], [live[b] for b in bins]))
        recorded.append(float(value))
    out, _ = project_python.communicate(json.dumps(cases), timeout=60)
    return list(zip(recorded, [float(line) for line in out.split()], strict=True))


@pytest.fixture(scope="module")
def drift(project_python: subprocess.Popen[str], stack: Any, monitoring: Any) -> Drift:
    """The two phases of traffic, observed (``project_python`` first: it loads during the stack's start)."""
    assert project_python.stdout is not None
    data = json.loads(project_python.stdout.readline())
    features = [bins["name"] for bins in stack.profile["features"]]
    assert data["names"] == features
    column = 1  # the second column: not merely the first
    feature = features[column]
    spread = statistics.pstdev(row[column] for row in data["x"])
    alert_expr = next(
        rule["expr"]
        for group in monitoring.rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "FeatureDrift"
    )
    traffic = Traffic(stack.send, stack.healthy, data["x"])
    traffic.start()
    try:
        # Phase 1: the training data only, for longer than the window.
        time.sleep(WINDOW_SECONDS + 2)
        psis = "model:drift_feature_psi"
        wait_until(lambda: len(stack.query(psis)) == len(features), 10, "a PSI of every feature")
        steady = _observe(stack, alert_expr, OBSERVE_SECONDS)
        # Phase 2: one feature moved by two standard deviations, until the window holds only it.
        traffic.shift = (column, SHIFT_SDS * spread)
        started = time.monotonic()
        wait_until(lambda: bool(stack.query(alert_expr)), WINDOW_SECONDS + 10, "FeatureDrift's expression")
        time.sleep(max(0.0, started + WINDOW_SECONDS + 2 - time.monotonic()))
        shifted = _observe(stack, alert_expr, OBSERVE_SECONDS)
        pairs = _recorded_and_profile_psi(stack, project_python, features)
        targets = monitoring.targets(below="Drift")
        panels = {name: stack.query(monitoring.grafana(expr, feature)) for name, expr in targets}
    finally:
        traffic.done.set()
        traffic.join(timeout=15)
    assert set(traffic.statuses) == {200}, traffic.statuses
    return Drift(steady, shifted, feature, features, pairs, panels)


def test_training_like_traffic_raises_no_drift(drift: Drift, request: pytest.FixtureRequest) -> None:
    print(f"\nPSI over {WINDOW_SECONDS} s of training rows (highest of the phase): {drift.steady.worst()}")
    print(f"prediction PSI: {max(drift.steady.prediction_psi):.4f}")
    request.node.user_properties.append(("drift-psi-steady", json.dumps(drift.steady.worst())))
    assert set(drift.steady.psi) == set(drift.features)
    assert all(value < THRESHOLD for values in drift.steady.psi.values() for value in values)
    assert drift.steady.fired
    assert all(fired == [] for fired in drift.steady.fired)
    assert drift.steady.alerts == []


def test_one_shifted_feature_crosses_the_threshold_alone(
    drift: Drift, request: pytest.FixtureRequest
) -> None:
    worst = drift.shifted.worst()
    print(f"\nPSI with {drift.feature!r} moved by {SHIFT_SDS:g} sd: {worst}")
    request.node.user_properties.append(
        ("drift-psi-shifted", json.dumps({"feature": drift.feature, "psi": worst}))
    )
    assert min(drift.shifted.psi[drift.feature]) > THRESHOLD
    others = {feature: value for feature, value in worst.items() if feature != drift.feature}
    assert set(others) == set(drift.features) - {drift.feature}
    assert all(value < THRESHOLD for value in others.values()), others
    # The alert's own expression names that feature, every time it was asked, and no other.
    assert drift.shifted.fired
    assert all(fired == [drift.feature] for fired in drift.shifted.fired)


def test_feature_drift_fires_naming_the_feature(drift: Drift) -> None:
    [alert] = drift.shifted.alerts
    assert alert["state"] == "firing"
    assert alert["labels"]["feature"] == drift.feature
    assert drift.feature in alert["annotations"]["summary"]


def test_prediction_psi_is_recorded(drift: Drift, request: pytest.FixtureRequest) -> None:
    figures = {"steady": max(drift.steady.prediction_psi), "shifted": max(drift.shifted.prediction_psi)}
    print(f"\nprediction PSI: {figures}")
    request.node.user_properties.append(("drift-prediction-psi", json.dumps(figures)))
    assert all(math.isfinite(value) and value >= 0 for value in figures.values())
    # Training rows answered as on the training rows: the answers have not drifted.
    assert figures["steady"] < THRESHOLD


def test_recorded_psi_is_the_profiles_psi_of_the_recorded_shares(drift: Drift) -> None:
    # The same floor and formula as serving/profile.py's psi (the batch report's), to the rounding.
    assert all(
        math.isclose(recorded, computed, rel_tol=1e-9, abs_tol=1e-12)
        for recorded, computed in drift.psi_pairs
    ), drift.psi_pairs


def test_drift_panels_show_the_shifted_feature(drift: Drift, stack: Any) -> None:
    # What Grafana would draw (no Grafana here): each query of the dashboard's Drift row answered
    # by Prometheus during the shift, with the shifted feature picked at the top.
    print()
    for name, samples in drift.panels.items():
        shown = [(sample["metric"], round(float(sample["value"][1]), 4)) for sample in samples]
        print(f"{name}: {shown}")
    assert [name for name, samples in drift.panels.items() if not samples] == []
    answers = {name.split(" / ")[0]: samples for name, samples in drift.panels.items()}
    [rows] = answers["Reference profile"]
    assert float(rows["value"][1]) == stack.profile["rows"]
    ranked = sorted(answers["Most drifted features"], key=lambda sample: -float(sample["value"][1]))
    assert ranked[0]["metric"]["feature"] == drift.feature
    chosen = {
        name: samples for name, samples in drift.panels.items() if name.startswith("Shares of $feature")
    }
    served, training = (
        {s["metric"]["bin"]: float(s["value"][1]) for s in samples} for samples in chosen.values()
    )
    assert set(served) == set(training)
    assert math.isclose(sum(served.values()), 1.0)
    assert math.isclose(sum(training.values()), 1.0, abs_tol=1e-5)  # profile.json's six decimals
