"""Fixtures for the render tier: each distinct generated project runs its own checks once.

The matrix itself (``matrix_projects``, the ``variant`` parameter) comes from tests/conftest.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator._run import run
from generator.errors import GeneratorError
from generator.fingerprint import python_digest
from generator.tools import find_python, which
from generator.variants import Variant


@dataclass(frozen=True)
class ProjectRun:
    """The outcome of one run of a generated project's own lint and tests."""

    representative: str
    failed_step: str | None
    output: str


@pytest.fixture(scope="session")
def project_runs(
    matrix_projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ProjectRun]:
    """Runs of the projects' own checks, keyed by python digest, filled on first use.

    Variants whose code and dependencies render identically share one environment and one run.
    """
    return {}


def run_project_checks(project: Path, python: Path, workdir: Path) -> ProjectRun:
    """Copy ``project`` to ``workdir`` and run uv sync, ruff and pytest there."""
    uv = which("uv")
    assert uv is not None, "uv is a test dependency of dsdeploy"
    copy = workdir / project.name
    shutil.copytree(project, copy)
    # Our own virtualenv must not leak into the project's; uv may not download interpreters here.
    env: dict[str, str | None] = {"VIRTUAL_ENV": None, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
    steps = {
        "uv sync": [uv, "sync", "--quiet", "--python", str(python)],
        "ruff check": [uv, "run", "--no-sync", "ruff", "check", "."],
        "ruff format --check": [uv, "run", "--no-sync", "ruff", "format", "--check", "."],
        "pytest": [uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"],
    }
    output = []
    for name, command in steps.items():
        try:
            result = run(command, cwd=copy, env=env, timeout=900)
        except GeneratorError as exc:
            return ProjectRun(project.name, name, str(exc))
        output.append(f"$ {name}\n{result.stdout[-2000:]}")
    return ProjectRun(project.name, None, "\n".join(output))


@pytest.fixture
def checked_project(
    request: pytest.FixtureRequest,
    matrix_projects: dict[str, Path],
    project_runs: dict[str, ProjectRun],
    tmp_path_factory: pytest.TempPathFactory,
) -> ProjectRun:
    """The (possibly shared) run of the variant named by the test's ``variant`` parameter."""
    variant: Variant = request.getfixturevalue("variant")
    project = matrix_projects[variant.id]
    version = variant.as_dict()["python_version"]
    python = find_python(str(version))
    if python is None:
        pytest.skip(f"no Python {version} interpreter here (pyenv or PATH)")
    digest = python_digest(project)
    if digest not in project_runs:
        project_runs[digest] = run_project_checks(project, python, tmp_path_factory.mktemp("run"))
    return project_runs[digest]
