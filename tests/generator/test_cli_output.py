"""Data alone on stdout, progress on stderr as plain lines off a terminal, tables that fit."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from generator.cli import app
from generator.console import fit_columns, live_allowed, progress
from generator.project.variants import variants

runner = CliRunner()


def test_variants_ids_prints_one_id_a_line():
    result = runner.invoke(app, ["variants", "--format", "ids"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [item.id for item in variants("full")]


def test_variants_table_never_cuts_an_id():
    # Off a terminal rich lays tables out at 80 columns, the width of the report.
    result = runner.invoke(app, ["variants"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    shown = set(re.findall(r"[\w.-]+", result.stdout))
    assert {item.id for item in variants("full")} <= shown


@pytest.mark.parametrize(("width", "shown"), [(69, None), (70, 0), (84, 0), (85, 1), (102, 2), (200, 7)])
def test_fit_columns_keeps_the_first_whole(width, shown):
    # An id of 66 characters needs 70 columns with its box; each other column adds 3 to its text.
    assert fit_columns(66, [12, 14, 15, 8, 10, 13, 8], width) == shown


def test_render_writes_one_json_line_and_plain_progress(tmp_path):
    ids = [item.id for item in variants("pairwise")][:3]
    args = ["render", str(tmp_path / "out"), *(a for vid in ids for a in ("--only", vid))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rendered": 3, "outdir": str(tmp_path / "out")}
    assert len(result.stdout.splitlines()) == 1
    assert "Rendering 3 variants by dependency: 3/3" in result.stderr
    assert re.search(r"done 3/3 in \d+\.\d s", result.stderr)


def test_version_option():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"dsdeploy \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize("variable", ["NO_COLOR", "CI"])
def test_no_color_or_ci_turns_live_progress_off(monkeypatch, variable):
    console = Console(force_terminal=True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert live_allowed(console)
    monkeypatch.setenv(variable, "1")
    assert not live_allowed(console)


def test_plain_progress_is_throttled_but_keeps_the_last():
    console = Console(record=True, width=200, force_terminal=False)
    with progress(console, "Rendering", total=500, live=False) as tracker:
        for number in range(500):
            tracker.advance(f"v{number}")
    lines = console.export_text().splitlines()
    assert len(lines) < 10
    assert lines[-2].endswith("Rendering: 500/500 v499")
    assert "done 500/500" in lines[-1]


def test_a_library_error_is_one_red_line_and_a_fix(tmp_path):
    result = runner.invoke(app, ["deploy", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: no deploy target given", "fix: pass --kind"]
