"""The checks users and platform teams run on a real, unmodified render pass, run as they run them.

Each distinct chart/Dockerfile (the defaults, the Dask variant, the Kubeflow variant) is rendered
with copier's answers and nothing planted or edited: ``dsdeploy check`` through its CLI, checkov
with its defaults on the project folder, hadolint with its defaults, ``helm lint --strict`` and
``kubernetes-validate --strict`` on ``helm template`` output, neither given a ``--namespace``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator.chart.helm import Chart
from generator.chart.kube_schemas import newest_versions
from generator.cli import app
from generator.tools import which

# One project per distinct chart and Dockerfile; the other axes change neither.
DISTINCT_CHARTS: dict[str, dict[str, Any]] = {
    "default": {},
    "dask": {"with_dask": True},
    "kubeflow": {"with_kubeflow": True},
}
TOOLS = ("helm", "helm3", "checkov", "hadolint", "kubernetes-validate")


@pytest.fixture(params=list(DISTINCT_CHARTS))
def project(request: pytest.FixtureRequest, render: Callable[..., Path]) -> Path:
    """A real render of one distinct chart/Dockerfile (read-only)."""
    missing = [tool for tool in TOOLS if which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (run scripts/setup-k8s-tools.sh)")
    return render(DISTINCT_CHARTS[request.param])


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = which(str(command[0]))
    assert tool is not None, f"{command[0]} vanished"
    return subprocess.run(
        [tool, *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_dsdeploy_check_passes(default_project: Path) -> None:
    # Through the CLI, as a user runs it: the default chart. The Dask and Kubeflow charts (every
    # chart of the matrix) go through the same checks in tests/chart/test_variants.py.
    if missing := [tool for tool in TOOLS if which(tool) is None]:
        pytest.skip(f"{', '.join(missing)} not installed (run scripts/setup-k8s-tools.sh)")
    result = CliRunner().invoke(app, ["check", str(default_project)])

    # Every tool it calls is present (the fixture skips otherwise), so no row can be a skip.
    assert result.exit_code == 0, result.output


def test_checkov_with_its_defaults_finds_nothing(project: Path) -> None:
    # The platform team's command line; JSON output only so that the test can read it.
    command: list[str | Path] = ["checkov", "-d", project, "--framework", "helm", "dockerfile"]
    result = _run([*command, "--output", "json"], project)

    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {report["check_type"] for report in reports} == {"helm", "dockerfile"}
    failed = [
        f"{item['check_id']} {item['resource']} ({item['file_path']})"
        for report in reports
        for item in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert result.returncode == 0, result.stderr[-2000:]


def test_hadolint_with_its_defaults_is_clean(project: Path) -> None:
    result = _run(["hadolint", "Dockerfile"], project)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("helm", ["helm", "helm3"])
def test_helm_lint_strict_without_a_namespace(project: Path, helm: str) -> None:
    chart = Chart.find(project)

    result = _run([helm, "lint", "--strict", chart.path], project)

    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_validation_without_a_namespace(project: Path) -> None:
    chart = Chart.find(project)
    rendered = _run(["helm", "template", chart.path], project)
    assert rendered.returncode == 0, rendered.stderr
    manifests = project.parent / f"{chart.name}-manifests.yaml"
    manifests.write_text(rendered.stdout, encoding="utf-8")
    # CRDs (DaskJob, InferenceService) have no built-in schema: kubernetes-validate warns only.
    for version in newest_versions():
        result = _run(["kubernetes-validate", "--strict", "--quiet", "-k", version, manifests], project)

        assert result.returncode == 0, f"Kubernetes {version}: {result.stdout}{result.stderr}"


def test_dsdeploy_check_validates_the_inferenceservice_against_kserves_crd(
    default_project: Path, tmp_path: Path
) -> None:
    # A field KServe does not know, planted in the chart's InferenceService (ci/kserve-values.yaml
    # switches it on): the API server would refuse it at install; `check` must say so first.
    project = tmp_path / "project"
    shutil.copytree(default_project, project, ignore=shutil.ignore_patterns(".venv"))
    [template] = project.glob("charts/*/templates/inferenceservice.yaml")
    text = template.read_text(encoding="utf-8")
    planted = text.replace(
        "      - name: kserve-container\n", "      - name: kserve-container\n        livenesProbe: {}\n", 1
    )
    assert planted != text, "the InferenceService template no longer names its container kserve-container"
    template.write_text(planted, encoding="utf-8")

    result = CliRunner().invoke(app, ["check", str(project), "--no-security"])

    assert result.exit_code == 1, result.output
    assert "InferenceService" in result.output, result.output
    assert "livenesProbe" in result.output, result.output
