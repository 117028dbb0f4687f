"""A model changed in the user's places only: the project's own lint and tests stay green."""

from __future__ import annotations

import json

import pytest

from generator.containers.podspec import podspec_smoke
from generator.containers.smoke import smoke_image
from generator.process import run
from generator.project.checks import run_project_checks
from generator.project.render import read_answers
from generator.tools import find_python


def test_swapped_project_passes_its_own_lint_and_tests(swapped, swap_id, swap, tmp_path):
    project = swapped(swap_id)
    version = str(read_answers(project)["python_version"])
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here (pyenv or PATH)")
    outcome = run_project_checks(project, python)
    assert outcome.failed_step is None, f"{outcome.failed_step} failed:\n{outcome.output[-4000:]}"
    # The tests passed for the new model, not the old one: training writes the new signature.
    package = read_answers(project)["package_name"]
    run([project / ".venv/bin/python", "-m", f"{package}.train", "--output", tmp_path], cwd=project)
    signature = json.loads((tmp_path / "signature.json").read_text(encoding="utf-8"))
    assert signature["task"] == swap.task
    assert tuple(column["kind"] for column in signature["columns"]) == swap.columns
    assert len(signature["example"]["instances"]) == len(signature["example"]["predictions"]) > 0


@pytest.mark.docker
def test_swapped_image_serves_the_new_model_as_the_chart_runs_it(swapped, swap_id, image_of):
    # The image trains the new model at build time; dsdeploy's smoke and the pod-spec smoke take
    # their request from its signature, so they check the new model, not the iris example.
    image = image_of(swapped(swap_id))
    smoke = smoke_image(image.tag)
    assert smoke.ok, smoke.summary()
    podspec = podspec_smoke(image.project, image.tag)
    assert podspec.ok, f"{podspec.summary()}\n--- log ---\n{podspec.logs}"
