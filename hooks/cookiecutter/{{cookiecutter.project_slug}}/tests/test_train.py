{% set package_name = cookiecutter.package_name %}"""Training: artifacts, quality against a trivial baseline, determinism and the command line.

Yours: these hold for any model and data, so they keep passing when you change ``train.py`` and
``model.py``; add tests of your own data and quality bar here.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import is_classifier

from {{ package_name }}.model import build_estimator
from {{ package_name }}.serving.artifact import load_model
from {{ package_name }}.train import load_dataset, main, train


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def test_train_writes_model_signature_and_metrics(artifacts: Path) -> None:
    data = load_dataset()
    assert (artifacts / "model.joblib").is_file()
    assert (artifacts / "signature.json").is_file()
    metrics = metrics_of(artifacts)
    assert metrics["n_train"] + metrics["n_test"] == len(data.y)


def test_model_beats_a_trivial_baseline(artifacts: Path) -> None:
    # A classifier must beat always answering the most common class; a regressor, the mean.
    metrics = metrics_of(artifacts)
    if is_classifier(build_estimator()):
        _, counts = np.unique(np.asarray(load_dataset().y), return_counts=True)
        assert metrics["accuracy"] > counts.max() / counts.sum()
    else:
        assert metrics["r2"] > 0


def test_training_is_deterministic(artifacts: Path, tmp_path: Path) -> None:
    train(tmp_path)
    assert (tmp_path / "metrics.json").read_bytes() == (artifacts / "metrics.json").read_bytes()
    x = load_dataset().x
    first, second = load_model(artifacts / "model.joblib"), load_model(tmp_path / "model.joblib")
    np.testing.assert_array_equal(first.predict(x), second.predict(x))


def test_train_returns_what_it_writes(tmp_path: Path) -> None:
    metrics = train(tmp_path / "nested" / "out")
    assert metrics_of(tmp_path / "nested" / "out") == metrics


def test_cli_main_trains_into_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output", str(tmp_path)]) == 0
    assert (tmp_path / "model.joblib").is_file()
    assert str(tmp_path / "model.joblib") in capsys.readouterr().out


@pytest.mark.runtime  # a new interpreter: `test_cli_main_trains_into_output` checks the same in-process
def test_python_dash_m_entry_point(tmp_path: Path, artifacts: Path) -> None:
    # The contract other tools (image build, pipelines) rely on: `python -m <package>.train --output`.
    result = subprocess.run(
        [sys.executable, "-m", train.__module__, "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert metrics_of(tmp_path) == metrics_of(artifacts)
