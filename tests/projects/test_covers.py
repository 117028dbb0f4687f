"""Why the covers' runs speak for every variant: what the projects lint and test, compared.

The full matrix renders 3,024 variants; a project's own lint and tests see only its code, tests,
notebooks and install metadata. These tests compare those files across the matrix, so the
project runs (tests/projects/test_runs.py) can run a cover instead of every variant.
"""

from __future__ import annotations

import re

from support.projects import (
    ALL_PROJECTS,
    FAST_COVER,
    MAKE_TEST_COVER,
    ONCE_TESTS,
    PROJECT_AXES,
    PROJECT_AXIS_NAMES,
    RUNTIME_COVER,
)
from support.rendering import MATRIX

from generator.project.fingerprint import python_digest
from generator.project.variants import Variant, load_axes

#: What a project's own lint and tests read, besides pyproject.toml (its dependencies).
LINTED_AND_TESTED = ("src/", "tests/", "notebooks/", ".python-version", ".pre-commit-config.yaml")


def _full(variant: Variant) -> Variant:
    """The matrix variant with ``variant``'s project-axis answers and every other answer's default."""
    answers = variant.as_dict()
    return Variant(tuple((axis.name, answers.get(axis.name, axis.default)) for axis in load_axes()))


def _project_files(tree) -> set[tuple[str, str]]:
    return {(path, entry.digest) for path, entry in tree.files.items() if path.startswith(LINTED_AND_TESTED)}


def test_answers_other_than_the_project_axes_change_nothing_the_project_lints_or_tests(
    matrix_render, matrix_projects
):
    # python_digest reads the files from disk: one project per distinct set of those files.
    by_files: dict[str, str] = {}
    digests: dict[tuple, set[str]] = {}
    for variant in MATRIX:
        files = matrix_render.trees[variant.id].part_digest(["src", "tests", "pyproject.toml"])
        if files not in by_files:
            by_files[files] = python_digest(matrix_projects[variant.id])
        axes = tuple(variant.as_dict()[name] for name in PROJECT_AXIS_NAMES)
        digests.setdefault(axes, set()).add(by_files[files])
    assert len(digests) == len(ALL_PROJECTS)
    assert {axes: len(found) for axes, found in digests.items() if len(found) > 1} == {}


def test_the_fast_cover_holds_every_distinct_file_the_projects_lint_and_test(matrix_render):
    every = {
        item for variant in ALL_PROJECTS for item in _project_files(matrix_render.trees[_full(variant).id])
    }
    covered = {
        item for variant in FAST_COVER for item in _project_files(matrix_render.trees[_full(variant).id])
    }
    missing = sorted(path for path, _ in every - covered)
    assert missing == []


def test_the_tests_run_once_exist_and_are_the_same_in_every_project(matrix_render, matrix_projects):
    # runtime_selection deselects them in all but one runtime project: a renamed test would be
    # deselected silently, and one that differed between projects would go unproven in the others.
    for test in ONCE_TESTS:
        path, name = test.split("::")
        variants = [_full(variant).id for variant in RUNTIME_COVER]
        assert len({matrix_render.trees[variant].files[path].digest for variant in variants}) == 1, path
        assert f"def {name}(" in (matrix_projects[variants[0]] / path).read_text(encoding="utf-8")


def _make_test_parts(makefile: str) -> list[str]:
    """What ``make test`` runs: the rules naming ``test`` or ``python`` as a target (recipes
    included) and the variables they read."""
    parts = []
    for block in re.split(r"\n\s*\n", makefile):
        for line in block.splitlines():
            rule = re.match(r"^(\w[\w .-]*):", line)  # not .PHONY, whose list names every target
            if rule and {"test", "python"} & set(rule[1].split()):
                parts.append(block[block.index(line) :])
            elif re.match(r"^(export )?(UV|PYTHON_VERSION|UV_PYTHON_DOWNLOADS) ", line):
                parts.append(line)
    return parts


def test_make_test_is_the_same_in_every_project_and_its_cover_holds_every_value(matrix_render):
    # test_runs.py runs `make test` itself in MAKE_TEST_COVER only: the recipe must not differ
    # between variants, and the cover must still hold every Python, framework and option.
    recipes = {matrix_render.trees[variant.id].files["Makefile"].digest for variant in MATRIX}
    found = {tuple(_make_test_parts(matrix_render.store[digest].decode())) for digest in recipes}
    assert len(found) == 1, f"make test differs between variants: {len(found)} versions"
    [parts] = found
    assert any('pytest -m "not runtime and not notebook"' in part for part in parts), parts
    assert any("PYTHONDONTWRITEBYTECODE" in part for part in parts), parts
    held = {answer for variant in MAKE_TEST_COVER for answer in variant.answers}
    assert held == {(axis.name, value) for axis in PROJECT_AXES for value in axis.values}
    assert set(MAKE_TEST_COVER) <= set(FAST_COVER)
