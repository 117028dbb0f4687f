{% set package_name = cookiecutter.package_name %}"""The smoke check the chart's test pod, CI and `make smoke` run: it passes, and it can fail."""

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from {{ package_name }}.serving.artifact import Model, save_model


def smoke(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "{{ package_name }}.serving.smoke", url, "--wait", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_smoke_passes_against_the_service(start_server: Callable[..., Any]) -> None:
    result = smoke(start_server().url)
    assert result.returncode == 0, result.stderr
    assert "/predict: " in result.stdout
    assert "infer: answered as at training" in result.stdout


def test_smoke_fails_naming_the_answer_that_differs(
    start_server: Callable[..., Any], model: Model, tmp_path: Path
) -> None:
    # The same estimator, but a signature whose recorded answers are not the model's own.
    wrong = tuple("not-" + str(answer) for answer in model.signature.example_predictions)
    tampered = Model(model.estimator, replace(model.signature, example_predictions=wrong))
    path = save_model(tampered, tmp_path / "model.joblib")
    result = smoke(start_server(MODEL_PATH=str(path)).url)
    assert result.returncode == 1
    assert "/predict answered" in result.stderr
    assert "not-" in result.stderr
