"""Fixtures for the chart tier: Helm binaries, one shared checker, and rendered manifests.

Helm lookup, Kubernetes schema loading and renders are done once per session and shared by
every test; tests that need a Helm that is missing skip with a one-line reason.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.chart.bad_values import BAD_VALUES
from generator.chart.helm import Chart, Helm, find_helms
from generator.chart.manifests import ManifestChecker

TEMPLATE_CHART = Path(__file__).resolve().parents[2] / "template" / "charts" / "{{project_slug}}"
# The values sets the template ships (ci/<name>-values.yaml, plain YAML, read at collection).
VALUES_SETS = sorted(
    {"default"}
    | {path.name.removesuffix("-values.yaml") for path in (TEMPLATE_CHART / "ci").glob("*-values.yaml")}
)
HELM_MAJORS = (4, 3)
SETUP_HINT = "run scripts/setup-k8s-tools.sh"

Manifests = list[dict[str, Any]]


@functools.cache
def _helms() -> dict[int, Helm]:
    return {helm.major: helm for helm in find_helms()}


def _helm_or_skip(major: int) -> Helm:
    helm = _helms().get(major)
    if helm is None:
        name = "helm" if major == 4 else f"helm{major}"
        pytest.skip(f"Helm {major} (`{name}`) is not installed ({SETUP_HINT})")
    return helm


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``values_set``, ``helm_major`` and ``bad_values`` with readable ids."""
    if "values_set" in metafunc.fixturenames:
        metafunc.parametrize("values_set", VALUES_SETS)
    if "helm_major" in metafunc.fixturenames:
        metafunc.parametrize("helm_major", HELM_MAJORS, ids=[f"helm{major}" for major in HELM_MAJORS])
    if "bad_values" in metafunc.fixturenames:
        metafunc.parametrize("bad_values", BAD_VALUES, ids=[case.id for case in BAD_VALUES])


@pytest.fixture
def helm(helm_major: int) -> Helm:
    """The Helm of the test's ``helm_major``; skips when it is not installed."""
    return _helm_or_skip(helm_major)


@pytest.fixture
def helm4() -> Helm:
    """Helm 4 (``helm``); skips when it is not installed."""
    return _helm_or_skip(4)


@pytest.fixture
def helm3() -> Helm:
    """Helm 3 (``helm3``); skips when it is not installed."""
    return _helm_or_skip(3)


@pytest.fixture(scope="session")
def checker() -> ManifestChecker:
    """One checker for the session: Helm binaries found once, schemas loaded once."""
    helms = list(_helms().values())
    if not helms:
        pytest.skip(f"helm is not installed ({SETUP_HINT})")
    return ManifestChecker(helms=sorted(helms, key=lambda helm: -helm.major))


@pytest.fixture(scope="session")
def default_chart(default_project: Path) -> Chart:
    """The chart of the default project."""
    return Chart.find(default_project)


@pytest.fixture(scope="session")
def rendered(checker: ManifestChecker, default_chart: Chart) -> Callable[[str], Manifests]:
    """``rendered(values_set)``: the default chart's manifests for that set, rendered once."""
    return functools.cache(lambda values_set: checker.render(default_chart, values_set))


def _only(manifests: Manifests, kind: str, *, hook: bool | None = None) -> dict[str, Any]:
    found = [
        doc
        for doc in manifests
        if doc["kind"] == kind
        and (hook is None or hook == ("helm.sh/hook" in (doc["metadata"].get("annotations") or {})))
    ]
    assert len(found) == 1, f"expected one {kind}, found {[doc['metadata']['name'] for doc in found]}"
    return found[0]


@pytest.fixture(scope="session")
def only() -> Callable[..., dict[str, Any]]:
    """``only(manifests, kind, hook=None)``: the single manifest of ``kind``; ``hook`` picks
    Helm hooks (True) or release objects (False)."""
    return _only


@pytest.fixture
def render_with(
    helm4: Helm, checker: ManifestChecker, default_chart: Chart, tmp_path: Path
) -> Callable[[dict[str, Any]], Manifests]:
    """``render_with(values)``: the default chart's manifests with ``values`` layered on (Helm 4)."""

    def render(values: dict[str, Any]) -> Manifests:
        path = tmp_path / "values.yaml"
        path.write_text(json.dumps(values), encoding="utf-8")
        return helm4.render(
            default_chart.name, default_chart.path, namespace=checker.namespace, values=[path]
        )

    return render


@pytest.fixture
def refusal(
    helm4: Helm, checker: ManifestChecker, default_chart: Chart, tmp_path: Path
) -> Callable[[dict[str, Any]], str]:
    """``refusal(values)``: Helm 4's error when the values schema refuses ``values`` on the default
    chart (the test fails if Helm accepts them)."""

    def refuse(values: dict[str, Any]) -> str:
        path = tmp_path / "bad.yaml"
        path.write_text(json.dumps(values), encoding="utf-8")
        code, _, stderr = helm4.template(
            default_chart.name, default_chart.path, namespace=checker.namespace, values=[path], check=False
        )
        assert code != 0, f"the values schema accepted {values}"
        return stderr

    return refuse
