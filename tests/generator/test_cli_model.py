"""`dsdeploy new DIR --model PATH`: a project that starts from the user's own model (issue 31).

The refusals come before any file is written; the one real run imports a scikit-learn model
(a skops file) through the project's own `make import-model` and checks the image would ship it.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.tools import find_python, which

runner = CliRunner()


def _new(dest, *args):
    return runner.invoke(app, ["new", str(dest), "--defaults", "--no-lock", *args])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--model", "{tmp}/nowhere.joblib"), "--model {tmp}/nowhere.joblib: no such file or folder"),
        (("--example", "{tmp}/rows.csv"), "--example needs --model"),
        (
            ("-d", "model_source=imported"),
            "model_source=imported needs the model to import: pass --model PATH",
        ),
        (
            ("--model", "{tmp}/model.joblib", "-d", "model_source=train"),
            "model_source=train contradicts --model",
        ),
        (
            ("--model", "{tmp}/model.joblib", "--example", "{tmp}/none.csv"),
            "--example {tmp}/none.csv: no such file",
        ),
        (("-d", "model_source=bought"), 'model_source must be "train" or "imported"'),
        (("--profile-data", "{tmp}/rows.csv"), "--profile-data needs --model"),
        (
            ("--model", "{tmp}/model.joblib", "--profile-data", "{tmp}/none.csv"),
            "--profile-data {tmp}/none.csv: no such file",
        ),
        (
            ("--model", "{tmp}/model.joblib", "--profile-data", "{tmp}/model.joblib"),
            "--profile-data {tmp}/model.joblib: not a .csv or .parquet file",
        ),
    ],
    ids=[
        "missing-model",
        "example-alone",
        "imported-no-model",
        "train-with-model",
        "missing-example",
        "bad",
        "profile-data-alone",
        "missing-profile-data",
        "profile-data-not-rows",
    ],
)
def test_new_refuses_a_model_it_cannot_import_before_writing_anything(tmp_path, args, said):
    (tmp_path / "model.joblib").write_bytes(b"not read: refused before")
    dest = tmp_path / "p"
    result = _new(dest, *(arg.format(tmp=tmp_path) for arg in args))
    assert result.exit_code == 2, result.output
    assert said.format(tmp=tmp_path) in " ".join(result.output.split())
    assert not dest.exists()


def test_new_with_a_model_refuses_a_machine_without_make_before_writing_anything(tmp_path, monkeypatch):
    (tmp_path / "model.joblib").write_bytes(b"not read: refused before")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # make is nowhere (uv may sit beside Python)
    result = _new(tmp_path / "p", "--model", str(tmp_path / "model.joblib"))
    assert result.exit_code == 2, result.output
    assert "`make` is needed" in result.output
    assert not (tmp_path / "p").exists()


def test_new_defaults_to_training_the_example_model(tmp_path):
    result = _new(tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((tmp_path / "p" / ".copier-answers.yml").read_text())["model_source"] == "train"
    assert "ARG MODEL_SOURCE=train\n" in (tmp_path / "p" / "Dockerfile").read_text()
    assert not (tmp_path / "p" / "imported").exists()


def test_new_with_a_model_imports_it_and_its_image_ships_it(tmp_path, monkeypatch):
    if which("uv") is None or which("make") is None or find_python("3.12") is None:
        pytest.skip("needs uv, make and a Python 3.12 interpreter")
    # A skops file: no pickle, so the import runs here, not in the sandbox's container (a pickle's
    # import through it is the docker tier's: tests/image/test_import_sandbox.py).
    skops_io = pytest.importorskip("skops.io")
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    iris = datasets.load_iris()
    x, y = iris.data, iris.target
    model = tmp_path / "mine.skops"
    skops_io.dump(linear.LogisticRegression(max_iter=500).fit(x, y), model)
    # Its training rows, for the drift reference: the columns the import names x0..x3 (skops records none).
    rows = tmp_path / "training.csv"
    rows.write_text("x0,x1,x2,x3\n" + "".join(",".join(map(str, row)) + "\n" for row in x), encoding="utf-8")
    dest = tmp_path / "p"
    # A terminal's width, exported by shells and pytest-xdist: make reads the environment, so
    # import-model's column names are COLUMN_NAMES, never COLUMNS (which imported an "80" model).
    monkeypatch.setenv("COLUMNS", "80")

    result = _new(dest, "--model", str(model), "--profile-data", str(rows), "-d", "project_name=Mine")

    assert result.exit_code == 0, result.output
    assert "make test serve MODEL_DIR=imported" in result.output
    signature = yaml.safe_load((dest / "imported" / "signature.json").read_text())  # JSON is YAML
    assert signature["task"] == "classification"
    assert len(signature["columns"]) == 4
    assert (dest / "imported" / "model.joblib").is_file()
    profile = yaml.safe_load((dest / "imported" / "profile.json").read_text())
    assert profile["rows"] == len(x)
    assert [feature["name"] for feature in profile["features"]] == ["x0", "x1", "x2", "x3"]
    assert yaml.safe_load((dest / ".copier-answers.yml").read_text())["model_source"] == "imported"
    # CI builds with the Dockerfile's default, `make build` and `make push` with the Makefile's.
    assert "ARG MODEL_SOURCE=imported\n" in (dest / "Dockerfile").read_text()
    for target in ("build", "push"):
        shown = subprocess.run(
            ["make", "-n", target, "VERSION=0.1.0"], cwd=dest, capture_output=True, text=True, check=True
        ).stdout
        assert "MODEL_SOURCE=imported" in shlex.split(shown.replace("\\\n", " ")), shown
