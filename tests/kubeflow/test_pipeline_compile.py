"""Every Kubeflow variant's pipeline compiles offline, and every step runs that project's image."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from generator.project.fingerprint import python_digest
from generator.project.variants import variants

STEPS = {"train", "evaluate", "export"}
KUBEFLOW_FILES = ("evaluate.py", "export.py", "pipeline.py")


def _pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_matrix_has_kubeflow_variants(kubeflow_projects):
    axes = {name for variant in variants("full") for name, _ in variant.answers}
    assert "with_kubeflow" in axes
    assert kubeflow_projects


def test_every_kubeflow_variant_compiles(compiled_groups):
    failed = [f"{group.representative}: {group.error[-1500:]}" for group in compiled_groups if group.error]
    assert not failed, "\n".join(failed)


def test_every_executor_runs_the_configured_image(compiled_groups):
    for group in compiled_groups:
        images = {container["image"] for container in group.executors().values()}
        assert images == {group.config["image"]}, group.representative


def test_the_configured_image_is_the_one_the_chart_deploys(compiled_groups):
    # The chart's image.repository is where CI pushes; its tag defaults to the chart's appVersion.
    for group in compiled_groups:
        [chart_values] = (group.project / "charts").glob("*/values.yaml")
        repository = yaml.safe_load(chart_values.read_text(encoding="utf-8"))["image"]["repository"]
        chart = yaml.safe_load(chart_values.with_name("Chart.yaml").read_text(encoding="utf-8"))
        version = chart["appVersion"]
        assert group.config["image"] == f"{repository}:{version}", group.representative


def test_steps_call_the_package_entry_points(compiled_groups):
    for group in compiled_groups:
        package = group.project.joinpath(".copier-answers.yml").read_text(encoding="utf-8")
        package_name = yaml.safe_load(package)["package_name"]
        commands = {step: container["command"] for step, container in group.executors().items()}
        assert commands == {step: ["python", "-m", f"{package_name}.{step}"] for step in STEPS}


def test_only_the_export_step_mounts_the_model_store(compiled_groups):
    for group in compiled_groups:
        assert group.platform is not None, group.error
        executors = group.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert list(executors) == ["exec-export"], group.representative
        [mount] = executors["exec-export"]["pvcMount"]
        store = group.config["model_store"]
        assert (mount["constant"], mount["mountPath"]) == (store["pvc"], store["mount_path"])


def test_registry_answers_leave_code_and_tests_identical(kubeflow_projects):
    # CI runs each distinct generated project once (tests/render): the image reference lives in
    # deploy/kubeflow/config.yaml, so the registry must not split the Kubeflow variants' runs.
    by_other_answers: dict[tuple, set[str]] = {}
    for variant in variants("full"):
        if variant.id not in kubeflow_projects:
            continue
        others = tuple((name, value) for name, value in variant.answers if name != "registry")
        by_other_answers.setdefault(others, set()).add(python_digest(kubeflow_projects[variant.id]))
    split = {others: digests for others, digests in by_other_answers.items() if len(digests) > 1}
    assert not split, f"registry answers change src/, tests/ or install metadata: {list(split)[:2]}"


def test_kfp_stays_out_of_the_runtime_dependencies(kubeflow_projects):
    for vid, project in kubeflow_projects.items():
        pyproject = _pyproject(project)
        assert not [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("kfp")], vid
        groups = pyproject["dependency-groups"]
        assert any(dep.startswith("kfp>=") for dep in groups["kubeflow"]), vid
        # dev includes it, so `uv sync` (and the project's own tests) have it; the image (--no-dev) does not.
        assert {"include-group": "kubeflow"} in groups["dev"], vid


def test_variants_without_kubeflow_ship_none_of_it(matrix_projects, kubeflow_projects):
    without = {vid: path for vid, path in matrix_projects.items() if vid not in kubeflow_projects}
    assert without
    for vid, project in without.items():
        [package] = [path for path in (project / "src").iterdir() if path.is_dir()]
        assert not [name for name in KUBEFLOW_FILES if (package / name).exists()], vid
        assert not (project / "deploy" / "kubeflow").exists(), vid
        assert not (project / "tests" / "test_pipeline.py").exists(), vid
        assert "kubeflow" not in _pyproject(project).get("dependency-groups", {}), vid
        assert "pipeline:" not in (project / "Makefile").read_text(encoding="utf-8"), vid
