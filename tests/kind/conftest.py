"""Fixtures for the kind tier and the pod-spec smoke: images built once, one cluster per session.

Images are built the way the docker tier builds them (a locked copy of the rendered project,
``dsdeploy-test/<name>:<build digest>``, the base from ``choose_base_image``), so when both tiers
run in one session BuildKit's cache makes the second build a matter of seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.cluster import kind
from generator.image.project_image import PreparedImage

HERE = Path(__file__).resolve().parent
# Deployment options a kind deploy is run for: the chart's defaults, and the optional parts that
# work on a one-node kind cluster (HPA, PDB). Dask and Kubeflow variants add theirs here.
DEPLOY_OPTIONS: dict[str, tuple[Path, ...]] = {
    "default": (),
    "autoscaling-pdb": (HERE / "values" / "autoscaling-pdb-values.yaml",),
}
KIND_TEST_CLUSTER = "dsdeploy-test"

BuildFn = Callable[[Path], str]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``deploy_option`` with readable ids."""
    if "deploy_option" in metafunc.fixturenames:
        metafunc.parametrize("deploy_option", list(DEPLOY_OPTIONS))


@pytest.fixture(scope="session")
def build_served(image_of: Callable[[Path], PreparedImage]) -> BuildFn:
    """``build_served(project)``: the image tag of a rendered project (the suite's one image fixture)."""

    def _build(project: Path) -> str:
        return image_of(project).tag

    return _build


@pytest.fixture(scope="session")
def served_image(build_served: BuildFn, default_project: Path) -> str:
    """The image of the all-defaults project."""
    return build_served(default_project)


@pytest.fixture
def chart_copy(default_project: Path, tmp_path: Path) -> Callable[[Callable[[str], str]], Path]:
    """``chart_copy(edit)``: a copy of the default project whose Deployment template ``edit`` rewrote.

    ``edit`` gets the template's text and returns the new text; it must change something.
    """

    def _copy(edit: Callable[[str], str]) -> Path:
        project = tmp_path / default_project.name
        shutil.copytree(default_project, project)
        template = next((project / "charts").glob("*/templates/deployment.yaml"))
        before = template.read_text(encoding="utf-8")
        after = edit(before)
        assert after != before, "the edit changed nothing in deployment.yaml"
        template.write_text(after, encoding="utf-8")
        return project

    return _copy


@pytest.fixture(scope="session")
def answers_of() -> Callable[[Path], dict[str, Any]]:
    """The answers a project was rendered with."""
    return lambda project: yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


@pytest.fixture
def deploy_values(deploy_option: str) -> tuple[Path, ...]:
    """The values files of the test's ``deploy_option``."""
    return DEPLOY_OPTIONS[deploy_option]


@pytest.fixture(scope="session")
def kind_cluster(default_project: Path) -> Iterator[str]:
    """One kind cluster for the session's deploys; created (and deleted) here unless it exists."""
    created = not kind.cluster_exists(KIND_TEST_CLUSTER)
    if created:
        kind.create_cluster(KIND_TEST_CLUSTER, default_project / "deploy" / "kind" / "cluster.yaml")
    yield KIND_TEST_CLUSTER
    if created:
        kind.delete_cluster(KIND_TEST_CLUSTER)
