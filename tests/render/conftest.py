"""Fixtures for the render tier: each distinct generated project runs its own checks once.

The matrix itself (``matrix_projects``, the ``variant`` parameter) comes from tests/conftest.py.
Variants whose code and dependencies render identically share one run. The runs are started
together, a few at a time, the first time a test asks for one: a project's checks spend much of
their time starting servers and waiting on them, so two cores carry more than one run at once.

Every distinct project runs its lint and its tests. The tests marked ``server`` (they start the
real service in processes: about two minutes of a project's run on this machine) and
``notebook`` (a kernel runs notebooks/: 5-30 s) exercise code that varies only with those
axes: they run in the projects of a cover of the axes that change a project's code or
dependencies in which every value occurs (every Python, every framework, with and without
Kubeflow and Dask: three projects), and the other projects run ``-m "not server and not
notebook"``. Whole suites in all 36 projects take 40 minutes here; in a pairwise
cover (9 projects) 25 minutes of the 45 the whole CI run may take.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from generator.project.checks import ProjectRun, run_project_checks
from generator.project.fingerprint import python_digest
from generator.project.render import read_answers
from generator.project.variants import each_value, load_axes
from generator.tools import find_python

#: Project runs at once: one per core (more makes the projects' own server-start deadlines race).
PARALLEL_RUNS = max(2, os.cpu_count() or 1)
#: The answers that change a project's code or dependencies (and so its own test run).
PROJECT_AXIS_NAMES = ("python_version", "model_framework", "with_kubeflow", "with_dask")
QUICK = ("-m", "not server and not notebook")


def whole_suite_answers() -> list[dict[str, object]]:
    """The projects that run their whole suite: every value of every project axis, once."""
    axes = [axis for axis in load_axes() if axis.name in PROJECT_AXIS_NAMES]
    return [dict(variant.as_dict()) for variant in each_value(axes)]


class ProjectRuns:
    """Every distinct project's run, keyed by variant id; all started on the first request."""

    def __init__(self, projects: dict[str, Path], workdir: Path) -> None:
        self._projects = projects
        self._workdir = workdir
        self._digests: dict[str, str] = {}
        self._runs: dict[str, Future[ProjectRun]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _start_all(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS, thread_name_prefix="project-run")
        whole = [tuple(sorted(answers.items())) for answers in whole_suite_answers()]
        projects: dict[str, Path] = {}
        full: set[str] = set()
        for variant_id, project in self._projects.items():
            digest = python_digest(project)
            self._digests[variant_id] = digest
            projects.setdefault(digest, project)
            answers = read_answers(project)
            if tuple(sorted((name, answers[name]) for name in PROJECT_AXIS_NAMES)) in whole:
                full.add(digest)
        # Whole suites first: they are the longest, so the pool ends with the quick ones.
        for digest in sorted(projects, key=lambda d: d not in full):
            project = projects[digest]
            python = find_python(str(read_answers(project)["python_version"]))
            if python is None:
                continue  # the test of each such variant skips, naming the version
            # The matrix's files are shared hard links: the run gets a copy of its own.
            copy = self._workdir / digest[:16] / project.name
            shutil.copytree(project, copy)
            args = () if digest in full else QUICK
            self._runs[digest] = self._pool.submit(run_project_checks, copy, python, pytest_args=args)

    def result(self, variant_id: str) -> ProjectRun | None:
        """The run of ``variant_id``'s project (shared with identical ones); None without its Python."""
        if self._pool is None:
            self._start_all()
        future = self._runs.get(self._digests[variant_id])
        return None if future is None else future.result()

    def environments(self) -> list[Path]:
        """The synced project copies (each with its ``.venv``) of every run that passed its sync."""
        if self._pool is None:
            self._start_all()
        return [
            Path(future.result().representative_path)
            for future in self._runs.values()
            if future.result().failed_step != "uv sync"
        ]

    def close(self) -> None:
        """Wait for runs still going (a failed session stops asking) and free the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def project_runs(
    matrix_projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProjectRuns]:
    """The distinct projects' own lint and test runs, shared by every variant that renders alike."""
    runs = ProjectRuns(matrix_projects, tmp_path_factory.mktemp("project-runs"))
    yield runs
    runs.close()


@pytest.fixture
def checked_project(request: pytest.FixtureRequest, project_runs: ProjectRuns) -> ProjectRun:
    """The (possibly shared) run of the variant named by the test's ``variant`` parameter."""
    variant = request.getfixturevalue("variant")
    outcome = project_runs.result(variant.id)
    if outcome is None:
        pytest.skip(f"no Python {variant.as_dict()['python_version']} interpreter here (pyenv or PATH)")
    return outcome
