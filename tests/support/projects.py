"""The generated projects' own runs (``uv sync``, ruff, pytest, as the project's CI runs them),
and which projects run what.

What a project's own lint and tests see depends on four answers only, the project axes
(Python x framework x Kubeflow x Dask: 36 projects; tests/projects/test_covers.py proves that
the other answers change none of it). Of those 36:

- ``FAST_COVER``, a pairwise cover (9 projects), runs lint and the fast tests (``make test``).
  Together they hold every distinct file the 36 lint and test but ``pyproject.toml``, which
  differs in each (its dependencies); test_covers.py proves it;
- ``RUNTIME_COVER``, an each-value cover (3 projects: every Python, every framework, Kubeflow and
  Dask on and off), runs the process-level runtime tests and the notebooks
  (``make test-runtime``, ``make test-notebooks``): once per framework and once per Python
  (``ONCE_TESTS``, of code no variant changes, in the first of them only);
- ``MAKE_TEST_COVER``, the fewest projects of the fast cover that hold every value of every axis
  (3), also run ``make test`` itself: its recipe is the same in all 36 (test_covers.py), so what
  it adds to the fast run (the selection it passes, the bytecode it writes) needs each Python,
  framework and option once, not each pair;
- all 36 are locked (tests/projects/test_locks.py): each resolves, every package it pins has
  wheels for its platforms, and every version any of them pins is installed and tested in a
  project of the fast cover.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from generator.project.checks import ProjectRun, run_project_checks
from generator.project.variants import Variant, each_value, full_product, load_axes, pairwise
from generator.tools import find_python

PROJECT_AXIS_NAMES = ("python_version", "model_framework", "with_kubeflow", "with_dask")
PROJECT_AXES = tuple(axis for axis in load_axes() if axis.name in PROJECT_AXIS_NAMES)
ALL_PROJECTS = full_product(PROJECT_AXES)
FAST_COVER = pairwise(PROJECT_AXES)
RUNTIME_COVER = each_value(PROJECT_AXES)


def fewest_holding_every_value(cover: Sequence[Variant]) -> list[Variant]:
    """The first smallest subset of ``cover`` (in its order) in which every value of ``cover`` occurs."""
    values = {answer for variant in cover for answer in variant.answers}
    for size in range(1, len(cover) + 1):
        for subset in itertools.combinations(cover, size):
            if {answer for variant in subset for answer in variant.answers} == values:
                return list(subset)
    return list(cover)


MAKE_TEST_COVER = fewest_holding_every_value(FAST_COVER)
#: ``make test``'s selection; ``make test-runtime``'s and ``make test-notebooks``' together.
FAST = ("-m", "not runtime and not notebook")
RUNTIME = ("-m", "runtime or notebook")
#: Runtime tests that no variant changes, run in the first runtime project only: each starts
#: two-worker servers (10-30 s under load) to test code that is the same file in every project
#: and does not depend on the Python or the framework (test_covers.py checks the files match):
#: the tests' own clean-up of process groups (conftest), uvicorn's supervisor replacing a killed
#: worker, and the per-worker batcher with Prometheus' multiprocess files adding up every
#: worker (a 6 s batching wait). Two workers still start, share the port and the metrics, and
#: answer without Nagle's delay in every runtime project (test_concurrency, test_workers).
ONCE_TESTS = tuple(
    f"tests/serving/test_workers.py::{name}"
    for name in (
        "test_a_failing_test_leaves_no_server_process_behind",
        "test_a_killed_worker_is_replaced_while_the_other_keeps_answering",
        "test_each_worker_batches_its_own_requests_and_metrics_add_up_every_worker",
    )
)


def runtime_selection(variant: Variant) -> tuple[str, ...]:
    """What a runtime-cover project runs: ``RUNTIME``, ``ONCE_TESTS`` in the first project only."""
    if variant == RUNTIME_COVER[0]:
        return RUNTIME
    return RUNTIME + tuple(arg for test in ONCE_TESTS for arg in ("--deselect", test))


def python_of(version: str) -> Path:
    """The interpreter of Python ``version``; skips, naming it, when none is here."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here (pyenv or PATH)")
    return python


RunFn = Callable[[Path, tuple[str, ...]], ProjectRun]


@pytest.fixture(scope="session")
def project_run(tmp_path_factory: pytest.TempPathFactory) -> RunFn:
    """``project_run(project, pytest_args)``: the project's own checks on a copy, once per session.

    The copy keeps its ``.venv``, so the tests of one project (one xdist group) can read the
    environment its tests ran in. The project's Python comes from its answers.
    """
    runs: dict[tuple[Path, tuple[str, ...]], ProjectRun] = {}

    def _run(project: Path, pytest_args: tuple[str, ...]) -> ProjectRun:
        key = (project, pytest_args)
        if key not in runs:
            from generator.project.render import read_answers

            python = python_of(str(read_answers(project)["python_version"]))
            copy = tmp_path_factory.mktemp("project-run") / project.name
            shutil.copytree(project, copy)
            runs[key] = run_project_checks(copy, python, pytest_args=pytest_args)
        return runs[key]

    return _run


def cover_ids(cover: list[Variant]) -> list[str]:
    """Readable ids of a cover's variants, e.g. ``py3.12-sklearn-no-kubeflow-no-dask``."""
    return [variant.id for variant in cover]
