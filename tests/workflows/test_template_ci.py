"""The template repository's own workflow: matrix from the CLI, render-and-test, docker, kind."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.project.variants import GITHUB_MATRIX_LIMIT


@pytest.fixture(scope="module")
def workflow(repo_workflows):
    [path] = [path for path in repo_workflows if path.name == "template-ci.yml"]
    return yaml.safe_load(path.read_text())


def _runs(job) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_permissions_are_read_only(workflow):
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, name


def test_matrix_comes_from_the_cli_and_fits_github(workflow):
    job = workflow["jobs"]["matrix"]
    [compute] = [run for run in _runs(job) if "variants" in run]
    command = compute.split("$(", 1)[1].split(")", 1)[0]
    assert shlex.split(command)[1:] == ["variants", "--format", "github", "--pairwise"]
    assert job["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    # What that command prints now is a matrix GitHub accepts, with the fields the jobs read.
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    matrix = json.loads(result.stdout)
    assert 0 < len(matrix["include"]) <= GITHUB_MATRIX_LIMIT
    assert all({"id", "python_version"} <= set(entry) for entry in matrix["include"])


def test_each_matrix_entry_is_rendered_and_tested(workflow):
    job = workflow["jobs"]["render-test"]
    assert job["needs"] == "matrix"
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False
    assert job["env"] == {"VARIANT": "${{ matrix.id }}", "UV_PYTHON": "${{ matrix.python_version }}"}
    runs = _runs(job)
    render = next(shlex.split(run) for run in runs if "dsdeploy" in run)
    assert render[1:3] == ["render", "$RUNNER_TEMP/variants"]
    assert render[render.index("--only") + 1] == "$VARIANT"
    assert "make lock lint test" in runs[-1].splitlines()


def test_docker_and_kind_tiers_run_the_test_script(workflow, steps_using):
    assert _runs(workflow["jobs"]["image"])[-1] == "scripts/test.sh -m docker"
    kind = workflow["jobs"]["kind"]
    [action] = steps_using(kind, "helm/kind-action")
    assert action["with"] == {"install_only": True}
    assert steps_using(kind, "azure/setup-helm")
    assert _runs(kind)[-1] == "scripts/test.sh -m kind"


def test_every_job_is_bounded_in_time(workflow):
    assert all(job["timeout-minutes"] <= 60 for job in workflow["jobs"].values())
