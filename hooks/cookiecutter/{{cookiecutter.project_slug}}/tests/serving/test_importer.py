{% set package_name = cookiecutter.package_name %}"""A model trained elsewhere, imported and served: `make import-model`."""

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import joblib
import pytest
from fastapi.testclient import TestClient

from {{ package_name }}.serving.artifact import Model, load_model
from {{ package_name }}.serving.importer import main
from {{ package_name }}.serving.service import create_app
from {{ package_name }}.serving.settings import Settings


def importer(*args: str) -> subprocess.CompletedProcess[str]:
    """`make import-model`'s command line, run in this process: ``main(argv)``'s exit code and output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def elsewhere(tmp_path: Path, model: Model) -> Path:
    """A bare fitted estimator in a joblib file, as another project or a notebook would leave it."""
    path = tmp_path / "trained-elsewhere.joblib"
    joblib.dump(model.estimator, path)
    return path


def test_imported_model_is_served_with_its_example(
    elsewhere: Path, tmp_path: Path, model: Model, rows: list[list[Any]]
) -> None:
    example = tmp_path / "rows.json"
    example.write_text(json.dumps({"instances": rows[:3]}), encoding="utf-8")
    output = tmp_path / "imported"
    result = importer(str(elsewhere), "--example", str(example), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert (output / "signature.json").is_file()
    imported = load_model(output / "model.joblib")
    assert imported.n_features == model.n_features
    assert list(imported.signature.example_rows) == [tuple(row) for row in rows[:3]]
    with TestClient(create_app(Settings(model_path=output / "model.joblib"))) as client:
        metadata = client.get(f"/v2/models/{Settings().model_name}").json()
        example_request = metadata["parameters"]["example"]
        answer = client.post("/predict", json={"instances": example_request["instances"]})
    assert answer.status_code == 200
    assert answer.json()["predictions"] == example_request["predictions"] == model.predict(rows[:3]).tolist()


def test_imported_model_without_example_gets_a_signature_from_the_estimator(
    elsewhere: Path, tmp_path: Path, model: Model
) -> None:
    result = importer(str(elsewhere), "--output", str(tmp_path / "imported"))
    assert result.returncode == 0, result.stderr
    imported = load_model(tmp_path / "imported" / "model.joblib")
    assert imported.n_features == model.n_features
    assert imported.signature.task == model.signature.task


def test_a_file_without_an_estimator_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "not-a-model.joblib"
    joblib.dump({"weights": [1, 2, 3]}, path)
    result = importer(str(path), "--output", str(tmp_path / "imported"))
    assert result.returncode == 1
    assert "has no predict()" in result.stderr
    assert not (tmp_path / "imported").exists()


@pytest.mark.runtime
def test_python_dash_m_entry_point(elsewhere: Path, tmp_path: Path, model: Model) -> None:
    # The contract `make import-model` relies on: `python -m <package>.serving.importer MODEL --output DIR`.
    output = tmp_path / "imported"
    result = subprocess.run(
        [sys.executable, "-m", main.__module__, str(elsewhere), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"imported {elsewhere} into {output}" in result.stdout
    assert load_model(output / "model.joblib").n_features == model.n_features
