"""The pod-spec smoke's projects cover the server workload of every variant in the matrix.

Each distinct chart of the whole matrix (rendered by dependency) is rendered once with Helm.

The smoke runs for the default project (every values set) and one project per Python version;
this fails as soon as some variant renders a different server Deployment or Service (as the Dask
and Kubeflow options may), so that variant gets a pod-spec smoke of its own.
"""

from __future__ import annotations

import pytest

from generator.chart.helm import find_helms
from generator.containers.podspec.workload import render_workload
from generator.image.image_ref import ImageRef

IMAGE = ImageRef("dsdeploy-test/project", "coverage")


def _workload(project):
    deployment, services = render_workload(project, IMAGE, "default")
    return deployment, sorted(services, key=lambda service: service["metadata"]["name"])


def test_every_variant_renders_the_server_workload_the_smoke_runs(
    matrix_render, matrix_projects, default_project
):
    if not find_helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    covered = _workload(default_project)
    # Variants whose charts are identical render the same workload: one render per distinct chart.
    charts: dict[str, list[str]] = {}
    for variant_id, tree in matrix_render.trees.items():
        charts.setdefault(tree.part_digest(["charts"]), []).append(variant_id)
    assert len(charts) > 1  # the matrix's charts do differ (registries, Kubeflow, Dask)

    different = [ids[0] for ids in charts.values() if _workload(matrix_projects[ids[0]]) != covered]

    assert not different, (
        f"these variants (and the ones sharing their chart) render a server Deployment/Service the "
        f"pod-spec smoke does not run: {different}; give them a test in tests/kind/test_podspec.py"
    )
