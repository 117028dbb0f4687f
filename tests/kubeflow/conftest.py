"""Fixtures for the Kubeflow tests: compiled pipelines per distinct project, the KServe CRD, a
built image and local pipeline runs.

Every variant with ``with_kubeflow`` comes from the session's matrix (``matrix_render``);
variants whose pipeline source and config render identically are compiled once, from the one
project of each group written to disk (``matrix_projects``). The pipeline is
compiled by the generated package itself (``python -m <package>.pipeline``, run as ``__main__``)
in a subprocess per distinct package source, so two projects' packages of the same name never meet
in this process, and kfp is imported once per source rather than once per registry's config.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.rendering import MATRIX

from generator.chart.crds import kserve_crds, kserve_schemas
from generator.chart.kube_schemas import KubernetesSchemas
from generator.errors import GeneratorError
from generator.image.build import BuildResult, choose_base_image, project_python_version
from generator.image.project_image import PreparedImage
from generator.process import run
from generator.project.render import read_answers
from generator.project.variants import load_axes
from generator.tools import find_python

HERE = Path(__file__).resolve().parent
LOCAL_RUN = HERE / "kfp_local_run.py"
CONFIG = Path("deploy/kubeflow/config.yaml")
# What a compile depends on: the package source and the pipeline config (image, defaults).
PIPELINE_PARTS = ("src", str(CONFIG))
IMAGE_UID = 10001

Manifest = dict[str, Any]


def package_of(project: Path) -> str:
    return str(read_answers(project)["package_name"])


@pytest.fixture(scope="session")
def kubeflow_ids() -> frozenset[str]:
    """The variants of the full matrix that have the Kubeflow pipeline."""
    return frozenset(variant.id for variant in MATRIX if variant.as_dict().get("with_kubeflow") is True)


@functools.cache
def kfp_missing_reason() -> str | None:
    """Why the pipeline cannot be compiled here, or None (kfp is a test dependency of dsdeploy)."""
    for module in ("kfp", "kfp.kubernetes"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module} is not installed here (pip install -e '.[test]' brings kfp and kfp-kubernetes)"
    return None


def skip_without_kfp() -> None:
    reason = kfp_missing_reason()
    if reason:
        pytest.skip(reason)


# --- Compiled pipelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """One compile shared by every variant whose pipeline source and config are identical.

    Attributes:
        representative: The variant that was compiled.
        variants: Every variant of the group.
        project: The representative's rendered project (read-only).
        pipeline: The pipeline spec (first YAML document), None when the compile failed.
        platform: The Kubernetes platform spec (second document).
        error: The compile's error output, when it failed.
    """

    representative: str
    variants: tuple[str, ...]
    project: Path
    pipeline: Manifest | None
    platform: Manifest | None
    error: str = ""

    @property
    def config(self) -> Manifest:
        return dict(yaml.safe_load((self.project / CONFIG).read_text(encoding="utf-8")))

    def executors(self) -> dict[str, Manifest]:
        assert self.pipeline is not None, self.error
        return {
            name.removeprefix("exec-"): spec["container"]
            for name, spec in self.pipeline["deploymentSpec"]["executors"].items()
        }


COMPILE_PIPELINES = HERE / "compile_pipelines.py"


def compile_projects(
    projects: list[Path], outputs: list[Path]
) -> list[tuple[Manifest | None, Manifest | None, str]]:
    """Compile each project's pipeline with its own entry point (``python -m <package>.pipeline``);
    both specs of each, or its error.

    The projects share one package source: one Python runs every entry point in turn
    (``compile_pipelines.py``), so kfp's import is paid once, not once a project.
    """
    package = package_of(projects[0])
    results = outputs[0].with_name("errors.json")
    command = [sys.executable, COMPILE_PIPELINES, package, results]
    for project, output in zip(projects, outputs, strict=True):
        command += [project, output]
    try:
        run(command, timeout=300)
        errors = json.loads(results.read_text(encoding="utf-8"))
    except GeneratorError as exc:
        errors = [str(exc)] * len(projects)
    compiled: list[tuple[Manifest | None, Manifest | None, str]] = []
    for output, error in zip(outputs, errors, strict=True):
        if error:
            compiled.append((None, None, error))
            continue
        pipeline, platform = yaml.safe_load_all(output.read_text(encoding="utf-8"))
        compiled.append((pipeline, platform, ""))
    return compiled


@pytest.fixture(scope="session")
def compiled_groups(
    kubeflow_ids: frozenset[str],
    matrix_render: Any,
    matrix_projects: Mapping[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[Compiled]:
    """One compile per distinct (package source, pipeline config) among the Kubeflow variants."""
    skip_without_kfp()
    groups: dict[str, list[str]] = {}
    for vid in sorted(kubeflow_ids):
        groups.setdefault(matrix_render.trees[vid].part_digest(PIPELINE_PARTS), []).append(vid)
    # Groups with the same package source (they differ in the config only) compile in one Python.
    by_source: dict[str, list[list[str]]] = {}
    for variants in groups.values():
        by_source.setdefault(matrix_render.trees[variants[0]].part_digest(("src",)), []).append(variants)

    def compiled(same_source: list[list[str]]) -> list[Compiled]:
        projects = [matrix_projects[variants[0]] for variants in same_source]
        folder = tmp_path_factory.mktemp("kfp")
        outputs = [folder / f"pipeline-{index}.yaml" for index in range(len(projects))]
        return [
            Compiled(variants[0], tuple(variants), project, pipeline, platform, error)
            for variants, project, (pipeline, platform, error) in zip(
                same_source, projects, compile_projects(projects, outputs), strict=True
            )
        ]

    # Each Python start-up and kfp import takes a few seconds: one per core at once.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return [group for batch in pool.map(compiled, by_source.values()) for group in batch]


# --- KServe CRD ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrdValidator:
    """InferenceService manifests checked as `dsdeploy check` checks them (the bundled KServe CRD)."""

    schemas: KubernetesSchemas

    def problems(self, manifest: Manifest) -> list[str]:
        return [str(problem) for problem in self.schemas.validate(manifest)]


@pytest.fixture(scope="session")
def isvc_validator() -> CrdValidator:
    [crd] = kserve_crds()
    assert crd["spec"]["group"] == "serving.kserve.io"
    return CrdValidator(KubernetesSchemas(crd_schemas=kserve_schemas()))


# --- Docker: image and local runs ---------------------------------------------------------------


def python_versions_default_first() -> list[str]:
    [axis] = [axis for axis in load_axes() if axis.name == "python_version"]
    return [str(axis.default)] + [str(v) for v in axis.values if v != axis.default]


@dataclass(frozen=True)
class KfpImage:
    """The image of a Kubeflow variant, built once per session, and its locked project copy."""

    project: Path
    package: str
    result: BuildResult

    @property
    def tag(self) -> str:
        return self.result.tag


@pytest.fixture(scope="session")
def kfp_image(render: Callable[..., Path], image_of: Callable[[Path], PreparedImage]) -> KfpImage:
    """A Kubeflow project's image, on the first Python version that has a base image here.

    The default Python version is tried first (pulling its official image if need be); the
    others only with a base already present, so a machine without registry access still runs this.
    """
    skip_without_kfp()
    for version in python_versions_default_first():
        base = choose_base_image(version, pull=version == python_versions_default_first()[0])
        python = find_python(version)
        if base and python:
            break
    else:
        pytest.skip("no Python version has a base image and an interpreter here (scripts/setup-docker.sh)")
    image = image_of(render({"with_kubeflow": True, "python_version": version}))
    assert project_python_version(image.project) == version
    return KfpImage(image.project, package_of(image.project), image.result)


@dataclass(frozen=True)
class LocalRun:
    """One run of the pipeline with kfp.local's Docker runner.

    Attributes:
        returncode: 0 when every task succeeded.
        output: The driver's stdout and stderr (kfp.local's log, the containers' output).
        pipeline_root: Where kfp.local put the task artifacts.
        store: The model store the export step writes to (bind-mounted into the steps).
    """

    returncode: int
    output: str
    pipeline_root: Path
    store: Path

    def artifact(self, task: str, name: str) -> Path:
        """The path of a task's output artifact (one run per pipeline root)."""
        [found] = self.pipeline_root.glob(f"*/{task}/{name}")
        return found


RunPipeline = Callable[..., LocalRun]


@pytest.fixture(scope="session")
def run_pipeline(kfp_image: KfpImage, tmp_path_factory: pytest.TempPathFactory) -> RunPipeline:
    """``run_pipeline(**params)``: run the pipeline once on the built image with these parameters."""

    def _run(**params: object) -> LocalRun:
        workdir = tmp_path_factory.mktemp("kfp-run")
        root, store = workdir / "pipeline-root", workdir / "store"
        for folder in (root, store):
            folder.mkdir()
            # The steps run as the image's user: kfp.local bind-mounts these folders, and a step
            # that cannot write its outputs there fails (as it would on a cluster volume).
            if os.geteuid() == 0:
                os.chown(folder, IMAGE_UID, IMAGE_UID)
            else:
                folder.chmod(0o777)
        command = [
            sys.executable, LOCAL_RUN,
            "--src", kfp_image.project / "src",
            "--package", kfp_image.package,
            "--config", kfp_image.project / CONFIG,
            "--image", kfp_image.tag,
            "--pipeline-root", root,
            "--store", store,
        ]  # fmt: skip
        for name, value in params.items():
            command += ["--param", f"{name}={value}"]
        result = run(command, timeout=900, check=False)
        return LocalRun(result.returncode, result.stdout + result.stderr, root, store)

    return _run
