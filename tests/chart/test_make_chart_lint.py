"""The project's own chart check, `make chart-lint` (what its CI runs), with Helm 3 and 4: clean
on the rendered chart, and failing on a values typo and on a manifest the Kubernetes schemas
refuse (issue 13)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.chart.helm import Helm
from generator.tools import which


def _make_chart_lint(project: Path, helm: Helm, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`make chart-lint` in ``project`` with ``helm`` as the `helm` on PATH and uv beside us."""
    if which("make") is None:
        pytest.skip("no make on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "helm"
    if not link.exists():
        link.symlink_to(helm.path)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path, "NO_COLOR": "1"}
    return subprocess.run(
        ["make", "--no-print-directory", "chart-lint"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def dask_project(render, tmp_path: Path) -> Path:
    """A Dask variant (the most resources), copied so a test may plant a fault in it."""
    copy = tmp_path / "project"
    shutil.copytree(render({"with_dask": True, "with_kubeflow": True}), copy)
    return copy


def _chart(project: Path) -> Path:
    [chart] = (project / "charts").iterdir()
    return chart


def test_make_chart_lint_passes_on_the_rendered_chart(dask_project: Path, helm: Helm, tmp_path: Path):
    done = _make_chart_lint(dask_project, helm, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for version in ("1.35.0", "1.36.0", "1.37.0"):
        assert f"kubernetes-validate --strict --kubernetes-version {version}" in done.stdout


def test_make_chart_lint_refuses_a_values_typo(dask_project: Path, helm: Helm, tmp_path: Path):
    values = _chart(dask_project) / "values.yaml"
    values.write_text(values.read_text(encoding="utf-8") + "replicaCont: 2\n", encoding="utf-8")
    done = _make_chart_lint(dask_project, helm, tmp_path)
    assert done.returncode != 0
    assert "replicaCont" in done.stdout + done.stderr


def test_make_chart_lint_refuses_a_manifest_the_kubernetes_schemas_refuse(
    dask_project: Path, helm: Helm, tmp_path: Path
):
    # Helm's lint passes this (the YAML is fine); only the Kubernetes schema check catches it.
    deployment = _chart(dask_project) / "templates" / "deployment.yaml"
    text = deployment.read_text(encoding="utf-8")
    assert "\nspec:\n" in text
    deployment.write_text(text.replace("\nspec:\n", "\nspec:\n  replicaz: 1\n", 1), encoding="utf-8")
    done = _make_chart_lint(dask_project, helm, tmp_path)
    assert done.returncode != 0
    assert "'replicaz' was unexpected" in done.stdout + done.stderr
