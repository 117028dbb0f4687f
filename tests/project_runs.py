"""Generated projects' own runs (uv sync, ruff, pytest), on a pool of their own.

They start together at the first test that reads one (tests/conftest.py orders those tests last),
two at a time on two cores, while the session waits. Started with the session instead, beside the
other tiers, they made the CI run longer, not shorter: a whole suite is itself several busy
processes (servers with two workers, load generators, a server start per test), and beside the
session each one took four times as long. Two kinds of project run here:

- the render tier's matrix: every distinct project (variants whose code and dependencies render
  identically share one run). The tests marked ``runtime`` (they start the real service and
  other processes: about two minutes of a project's run on this machine) and ``notebook`` (a kernel
  runs notebooks/: 5-30 s) exercise code that varies only with the axes that change a
  project's code or dependencies: they run in the projects of a cover of those axes in which
  every value occurs (every Python, every framework, with and without Kubeflow and Dask: three
  projects), and the other projects run ``-m "not runtime and not notebook"`` (``make test``). Whole suites in
  all 36 projects took 40 minutes here;
- the swap tier's projects, edited as their users would (tests/swaps.py): whole suites, in the
  same pool, so they no longer run one after another in the session.

Whole suites are queued first: they are the longest, so the pool ends with the quick runs.

The quick runs (uv sync, ruff and the tests that start no server: about a minute each, one busy
process) start beside the session instead, one at a time and niced, as soon as the matrix is on
disk: the session is mostly one process on two cores, so they use the idle one. Whole suites
beside the session made both slower (measured: see tests/README.md); they wait for the readers.
When the readers start, the quick runs not yet begun move to the pool, behind the whole suites.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from generator.project.checks import ProjectRun, run_project_checks
from generator.project.fingerprint import python_digest
from generator.project.render import read_answers
from generator.project.variants import each_value, load_axes
from generator.tools import find_python

#: Project runs at once: one per core (more makes the projects' own server-start deadlines race).
PARALLEL_RUNS = max(2, os.cpu_count() or 1)
#: The niceness of quick runs beside the session: the session's own steps come first.
BESIDE_NICENESS = 10
#: The answers that change a project's code or dependencies (and so its own test run).
PROJECT_AXIS_NAMES = ("python_version", "model_framework", "with_kubeflow", "with_dask")
QUICK = ("-m", "not runtime and not notebook")


def whole_suite_answers() -> list[dict[str, object]]:
    """The matrix projects that run their whole suite: every value of every project axis, once."""
    axes = [axis for axis in load_axes() if axis.name in PROJECT_AXIS_NAMES]
    return [dict(variant.as_dict()) for variant in each_value(axes)]


@dataclass(frozen=True)
class PlannedRun:
    """A project run to start: ``key`` names it, ``pytest_args`` empty for a whole suite."""

    key: str
    project: Path
    pytest_args: Sequence[str] = ()


def matrix_plan(projects: Mapping[str, Path]) -> tuple[dict[str, str], list[PlannedRun]]:
    """The runs of the matrix's distinct projects, and each variant id's run key (its digest)."""
    whole = [tuple(sorted(answers.items())) for answers in whole_suite_answers()]
    keys: dict[str, str] = {}
    planned: dict[str, PlannedRun] = {}
    for variant_id, project in projects.items():
        digest = python_digest(project)
        keys[variant_id] = digest
        if digest in planned:
            continue
        answers = read_answers(project)
        is_whole = tuple(sorted((name, answers[name]) for name in PROJECT_AXIS_NAMES)) in whole
        planned[digest] = PlannedRun(digest, project, () if is_whole else QUICK)
    return keys, list(planned.values())


class ProjectRuns:
    """Project runs on a pool of their own; each run works on a copy of its project."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS, thread_name_prefix="project-run")
        # Linux gives each thread its own niceness, and the commands a thread starts inherit it.
        self._beside = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="project-run-beside",
            initializer=os.nice,
            initargs=(BESIDE_NICENESS,),
        )
        self._runs: dict[str, Future[ProjectRun]] = {}
        self._prepared: dict[str, tuple[Path, Path, Sequence[str]]] = {}
        self._absent: set[str] = set()

    def _prepare(self, run: PlannedRun) -> tuple[Path, Path, Sequence[str]] | None:
        """The run's copy, interpreter and pytest arguments; None when queued or absent already."""
        if run.key in self._runs or run.key in self._absent:
            return None
        python = find_python(str(read_answers(run.project)["python_version"]))
        if python is None:
            self._absent.add(run.key)  # its readers skip, naming the version
            return None
        # Matrix files are shared hard links and the swap tier serves its projects: copy.
        copy = self._workdir / str(len(self._prepared)) / run.project.name
        shutil.copytree(run.project, copy)
        self._prepared[run.key] = (copy, python, run.pytest_args)
        return self._prepared[run.key]

    def _submit(self, pool: ThreadPoolExecutor, key: str) -> None:
        copy, python, args = self._prepared[key]
        self._runs[key] = pool.submit(run_project_checks, copy, python, pytest_args=args)

    def start_beside(self, planned: Sequence[PlannedRun]) -> None:
        """Start ``planned``'s quick runs now, one at a time at a lower priority, beside the session."""
        for run in planned:
            if run.pytest_args and self._prepare(run) is not None:
                self._submit(self._beside, run.key)

    def start(self, planned: Sequence[PlannedRun]) -> None:
        """Queue ``planned`` on the pool (whole suites first), then the quick runs not begun beside.

        A key already queued is not run twice.
        """
        whole = [run.key for run in planned if not run.pytest_args and self._prepare(run) is not None]
        waiting = [key for key, future in self._runs.items() if future.cancel()]
        quick = [run.key for run in planned if run.pytest_args and self._prepare(run) is not None]
        for key in [*whole, *waiting, *quick]:
            self._submit(self._pool, key)

    def result(self, key: str) -> ProjectRun | None:
        """The run ``key``, waited for; None when no interpreter of its Python is here."""
        if key in self._absent:
            return None
        return self._runs[key].result()

    def close(self) -> None:
        """Wait for runs still going (a failed session stops asking) and free the threads."""
        self._beside.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class MatrixRuns:
    """The matrix's runs, looked up by variant id."""

    runs: ProjectRuns
    keys: dict[str, str]

    def result(self, variant_id: str) -> ProjectRun | None:
        """The run of ``variant_id``'s project (shared with identical ones); None without its Python."""
        return self.runs.result(self.keys[variant_id])

    def environments(self) -> list[Path]:
        """The synced project copies (each with its ``.venv``) of every run that passed its sync."""
        outcomes = [self.runs.result(key) for key in dict.fromkeys(self.keys.values())]
        return [
            Path(outcome.representative_path)
            for outcome in outcomes
            if outcome is not None and outcome.failed_step != "uv sync"
        ]
