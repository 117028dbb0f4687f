"""Answers given with --data and --data-file are parsed strictly, before any file is written."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from generator.answers import validate
from generator.cli import app
from generator.project.variants import load_questions

runner = CliRunner()
HIDDEN = (
    "python_keywords",
    "stdlib_module_names",
    "dependency_module_names",
    "image_repository",
    "chart_repository",
)


def _new(tmp_path, *args):
    return runner.invoke(app, ["new", str(tmp_path / "p"), "--defaults", "--no-lock", *args])


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_every_boolean_spelling_is_read(given, meant):
    assert validate({"with_dask": given}, load_questions()) == {"with_dask": meant}


@pytest.mark.parametrize("given", ["flase", "on", "y", "2", "", "[y]"])
def test_any_other_boolean_is_refused_naming_question_and_spellings(tmp_path, given):
    result = _new(tmp_path, "-d", f"with_dask={given}")
    assert result.exit_code == 2
    assert f"with_dask must be true or false, got {given!r}" in result.stderr
    assert "true/false, yes/no or 1/0 (any case)" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_boolean_answer_lands_in_the_answers_file(tmp_path):
    result = _new(tmp_path, "-d", "with_dask=YES", "-d", "with_kubeflow=0")
    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((tmp_path / "p" / ".copier-answers.yml").read_text())
    assert (answers["with_dask"], answers["with_kubeflow"]) == (True, False)


def test_unknown_question_suggests_the_closest(tmp_path):
    result = _new(tmp_path, "-d", "with_dsak=true")
    assert result.exit_code == 2
    assert "unknown question 'with_dsak' (--data): did you mean with_dask?" in result.stderr


def test_unknown_question_lists_only_real_questions(tmp_path):
    result = _new(tmp_path, "-d", "colour=blue")
    assert result.exit_code == 2
    listed = result.stderr.split("questions are:")[1].replace("\n", " ")
    assert {"project_name", "with_dask", "registry_namespace"} <= {q.strip() for q in listed.split(",")}
    for hidden in HIDDEN:
        assert hidden not in result.stderr


@pytest.mark.parametrize("hidden", HIDDEN)
def test_derived_values_cannot_be_answered(tmp_path, hidden):
    result = _new(tmp_path, "-d", f"{hidden}=x")
    assert result.exit_code == 2
    assert f"unknown question {hidden!r}" in result.stderr


def test_choice_error_lists_the_choices(tmp_path):
    result = _new(tmp_path, "-d", "license=mit")
    assert result.exit_code == 2
    assert "license must be one of MIT, Apache-2.0, BSD-3-Clause, Proprietary; got 'mit'" in result.stderr
    assert "did you mean MIT?" in result.stderr


def test_every_problem_is_listed_at_once(tmp_path):
    result = _new(tmp_path, "-d", "with_dask=flase", "-d", "license=GPL", "-d", "colour=blue")
    assert result.exit_code == 2
    assert "3 answers refused" in result.stderr
    for name in ("with_dask", "license", "'colour'"):
        assert name in result.stderr


def test_data_file_follows_the_same_rules(tmp_path):
    data = tmp_path / "answers.yml"
    data.write_text("with_dask: flase\n")
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--defaults", "--data-file", str(data)])
    assert result.exit_code == 2
    assert f"with_dask must be true or false, got 'flase' (--data-file {data})" in result.stderr
    assert not (tmp_path / "p").exists()


def test_data_file_unknown_question_is_refused(tmp_path):
    data = tmp_path / "answers.yml"
    data.write_text("python_keywords: [x]\n")
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--defaults", "--data-file", str(data)])
    assert result.exit_code == 2
    assert "unknown question 'python_keywords'" in result.stderr


def test_data_file_takes_yaml_values_and_data_wins(tmp_path):
    data = tmp_path / "answers.yml"
    # A number for a str choice, a YAML bool, copier metadata (ignored), and one that --data overrides.
    data.write_text("_commit: v0.1.0\npython_version: 3.11\nwith_dask: true\nlicense: Apache-2.0\n")
    result = runner.invoke(
        app,
        [
            "new",
            str(tmp_path / "p"),
            "--defaults",
            "--no-lock",
            "--data-file",
            str(data),
            "-d",
            "license=MIT",
        ],
    )
    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((tmp_path / "p" / ".copier-answers.yml").read_text())
    assert (answers["python_version"], answers["with_dask"], answers["license"]) == ("3.11", True, "MIT")


def test_data_file_must_be_a_mapping(tmp_path):
    data = tmp_path / "answers.yml"
    data.write_text("- with_dask\n")
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--defaults", "--data-file", str(data)])
    assert result.exit_code == 2
    assert "must hold a mapping of question: answer" in result.stderr
