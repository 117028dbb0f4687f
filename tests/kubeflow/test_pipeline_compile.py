"""Every Kubeflow variant's pipeline compiles offline, and every step runs that project's image."""

from __future__ import annotations

import tomllib

import yaml

from generator.project.variants import variants

STEPS = {"train", "evaluate", "export"}
KUBEFLOW_FILES = ("evaluate.py", "export.py", "pipeline.py")


def test_the_matrix_has_kubeflow_variants(kubeflow_ids):
    axes = {name for variant in variants("full") for name, _ in variant.answers}
    assert "with_kubeflow" in axes
    assert kubeflow_ids


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


def _distinct(matrix_render, ids, path: str) -> dict[str, str]:
    """The distinct contents of ``path`` among the variants ``ids``, each with one variant that has it."""
    found: dict[str, str] = {}
    for vid in sorted(ids):
        found.setdefault(matrix_render.trees[vid].files[path].digest, vid)
    return {matrix_render.store[digest].decode("utf-8"): vid for digest, vid in found.items()}


def test_kfp_stays_out_of_the_runtime_dependencies(matrix_render, kubeflow_ids):
    for text, vid in _distinct(matrix_render, kubeflow_ids, "pyproject.toml").items():
        pyproject = tomllib.loads(text)
        assert not [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("kfp")], vid
        groups = pyproject["dependency-groups"]
        assert any(dep.startswith("kfp>=") for dep in groups["kubeflow"]), vid
        # dev includes it, so `uv sync` (and the project's own tests) have it; the image (--no-dev) does not.
        assert {"include-group": "kubeflow"} in groups["dev"], vid


def test_variants_without_kubeflow_ship_none_of_it(matrix_render, kubeflow_ids):
    without = set(matrix_render.trees) - kubeflow_ids
    assert without
    for vid in without:
        paths = set(matrix_render.trees[vid].files)
        shipped = [p for p in paths if p.rsplit("/", 1)[-1] in KUBEFLOW_FILES and p.startswith("src/")]
        assert not shipped, vid
        assert not [p for p in paths if p.startswith("deploy/kubeflow/")], vid
        assert "tests/test_pipeline.py" not in paths, vid
    for text, vid in _distinct(matrix_render, without, "pyproject.toml").items():
        assert "kubeflow" not in tomllib.loads(text).get("dependency-groups", {}), vid
    for text, vid in _distinct(matrix_render, without, "Makefile").items():
        assert "pipeline:" not in text, vid
