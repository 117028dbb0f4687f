"""A model changed in the user's places only: the project's own lint and tests stay green."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.containers.podspec.smoke import podspec_smoke
from generator.containers.smoke import smoke_image
from generator.process import run
from generator.project.render import read_answers


def test_swapped_project_passes_its_own_lint_and_tests(swap_run, swap, tmp_path):
    # The run (uv sync, ruff, pytest) started with the session, on a copy of the swapped project.
    outcome = swap_run
    assert outcome.failed_step is None, f"{outcome.failed_step} failed:\n{outcome.output[-4000:]}"
    # The tests passed for the new model, not the old one: training writes the new signature.
    project = Path(outcome.representative_path)
    package = read_answers(project)["package_name"]
    run([project / ".venv/bin/python", "-m", f"{package}.train", "--output", tmp_path], cwd=project)
    signature = json.loads((tmp_path / "signature.json").read_text(encoding="utf-8"))
    assert signature["task"] == swap.task
    assert tuple(column["kind"] for column in signature["columns"]) == swap.columns
    assert len(signature["example"]["instances"]) == len(signature["example"]["predictions"]) > 0
    # A table with holes (issue 29): the signature names the columns that had missing values, and
    # the example holds some (as null), so every check that sends the example sends a null.
    assert tuple(column["name"] for column in signature["columns"] if column.get("missing")) == swap.missing
    if swap.missing:
        assert any(value is None for row in signature["example"]["instances"] for value in row)


@pytest.mark.docker
def test_swapped_image_serves_the_new_model_as_the_chart_runs_it(swapped, swap_id, image_of):
    # The image trains the new model at build time; dsdeploy's smoke and the pod-spec smoke take
    # their request from its signature, so they check the new model, not the iris example (the
    # table's example holds nulls: the service must answer them as the model did at training).
    image = image_of(swapped(swap_id))
    smoke = smoke_image(image.tag)
    assert smoke.ok, smoke.summary()
    podspec = podspec_smoke(image.project, image.tag)
    assert podspec.ok, f"{podspec.summary()}\n--- log ---\n{podspec.logs}"
