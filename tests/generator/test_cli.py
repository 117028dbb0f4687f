"""The CLI maps flags onto the library and turns user errors into exit code 2."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.process import run
from generator.project.source import template_root
from generator.project.variants import full_product, load_axes
from generator.tools import which

runner = CliRunner()


def test_new_renders_with_answers(tmp_path):
    dest = tmp_path / "churn"
    result = runner.invoke(app, ["new", str(dest), "--defaults", "--no-lock", "-d", "project_name=Churn"])
    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "churn"


def test_new_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["new", str(tmp_path), "--defaults", "--no-lock"])
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert "--overwrite" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_new_overwrite_keeps_other_files(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["new", str(tmp_path), "--defaults", "--no-lock", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (tmp_path / ".copier-answers.yml").is_file()


def test_new_rejects_a_bad_answer_before_writing(tmp_path):
    dest = tmp_path / "bad"
    result = runner.invoke(app, ["new", str(dest), "--defaults", "-d", "project_slug=Bad_Slug"])
    assert result.exit_code == 2
    assert "project_slug must be a DNS-1123 label" in result.output
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [("nonsense", "is not NAME=VALUE"), ("colour=blue", "unknown question 'colour'")],
)
def test_new_rejects_malformed_data(tmp_path, data, message):
    result = runner.invoke(app, ["new", str(tmp_path / "x"), "--defaults", "-d", data])
    assert result.exit_code == 2
    assert message in result.output


def test_new_without_terminal_asks_for_defaults(tmp_path):
    result = runner.invoke(app, ["new", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--defaults" in result.output


def test_variants_json_lists_the_full_matrix():
    result = runner.invoke(app, ["variants", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == len(full_product(load_axes()))


def test_variants_github_is_one_json_line():
    result = runner.invoke(app, ["variants", "--format", "github", "--pairwise"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert json.loads(result.output)["include"]


def test_render_only_one_variant(tmp_path):
    variant = full_product(load_axes())[0]
    result = runner.invoke(app, ["render", str(tmp_path), "--only", variant.id, "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [variant.id]


def test_render_unknown_variant_is_a_user_error(tmp_path):
    result = runner.invoke(app, ["render", str(tmp_path), "--only", "no-such-variant"])
    assert result.exit_code == 2
    assert "unknown variant id(s): no-such-variant" in result.output


def test_doctor_reports_tiers():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for tier in ("render", "static", "docker", "kind"):
        assert tier in result.output


def test_copier_cli_renders_defaults_without_trust(tmp_path):
    copier = [sys.executable, "-m", "copier"]
    run(
        [*copier, "copy", "--defaults", "--vcs-ref", "HEAD", str(template_root()), str(tmp_path / "p")],
        timeout=120,
    )
    assert (tmp_path / "p" / ".copier-answers.yml").is_file()


def test_deploy_needs_a_target(default_project):
    result = runner.invoke(app, ["deploy", str(default_project)])
    assert result.exit_code == 2
    assert "pass --kind" in result.output


def test_check_reports_every_static_check(default_project):
    if which("helm") is None:
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    result = runner.invoke(app, ["check", str(default_project), "--no-security"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.endswith("0 failed, 0 skipped"), last
    assert "helm lint" in result.output
