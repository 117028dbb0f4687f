"""Every variant renders into a complete, parseable project whose own checks pass."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

# Helm templates and GitHub expressions legitimately contain {{ }}; everything else must not.
HELM_TEMPLATES = re.compile(r"^charts/[^/]+/templates/")
JINJA_MARKERS = re.compile(r"(?<!\$)\{\{|\{%|\{#|%\}|#\}")


def _files(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if p.is_file()]


def test_no_template_suffix_left(variant, matrix_projects):
    leftovers = [p for p in _files(matrix_projects[variant.id]) if p.suffix == ".jinja"]
    assert leftovers == []


def test_no_jinja_markers_outside_helm_templates(variant, matrix_projects):
    project = matrix_projects[variant.id]
    offenders = []
    for path in _files(project):
        relative = path.relative_to(project).as_posix()
        if HELM_TEMPLATES.match(relative):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if JINJA_MARKERS.search(text):
            offenders.append(relative)
    assert offenders == []


def test_structured_files_parse(variant, matrix_projects):
    project = matrix_projects[variant.id]
    parsed = 0
    for path in _files(project):
        relative = path.relative_to(project).as_posix()
        if HELM_TEMPLATES.match(relative):
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)
        else:
            continue
        parsed += 1
    assert parsed >= 3, "expected at least pyproject.toml, answers file and chart files"


def test_answers_file_records_the_variant(variant, matrix_projects):
    answers = yaml.safe_load((matrix_projects[variant.id] / ".copier-answers.yml").read_text())
    for name, value in variant.answers:
        assert answers[name] == value


def test_project_lint_and_tests_pass(variant, checked_project):
    assert checked_project.failed_step is None, (
        f"{checked_project.failed_step} failed in {checked_project.representative}:\n{checked_project.output}"
    )
