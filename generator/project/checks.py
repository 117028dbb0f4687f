"""A generated project's own checks, run as its CI runs them: uv sync, ruff, pytest.

One runner for every suite that proves a rendered (or user-edited) project green: the render
tier runs it once per distinct project, the swap tests after a model change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import CommandFailed, CommandTimedOut
from generator.process import run
from generator.tools import require

#: The steps, in order; a project passes when every one exits 0.
STEPS = ("uv sync", "ruff check", "ruff format --check", "pytest")
#: Set for every step (None removes): uv may not download interpreters here, and dsdeploy's own
#: virtualenv must not leak into the project's.
PROJECT_ENV: dict[str, str | None] = {"VIRTUAL_ENV": None, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


@dataclass(frozen=True)
class ProjectRun:
    """The outcome of one run of a generated project's own lint and tests.

    Attributes:
        representative: The project's folder name (the first variant that ran it).
        representative_path: Where that project ran (it keeps its ``.venv``).
        failed_step: The step that failed, or None when all passed.
        output: The tail of each step's output, or the failure's message.
    """

    representative: str
    failed_step: str | None
    output: str
    representative_path: str = ""


def run_project_checks(
    project: Path, python: Path, *, pytest_args: Sequence[str] = (), timeout: float = 900
) -> ProjectRun:
    """Run ``project``'s own checks in place with the interpreter ``python``.

    uv may not download interpreters here, and dsdeploy's own virtualenv must not leak into the
    project's: both are set for every step. ``uv sync`` also locks when the project has no lock
    or its dependencies changed, as it does for a user.

    Args:
        project: The project folder (changed: it gets a venv and a lock).
        python: The interpreter of the project's Python version.
        pytest_args: Extra pytest arguments, e.g. ``-m "not runtime"``.
        timeout: Seconds each step may take.
    """
    uv = require("uv")
    commands = {
        "uv sync": [uv, "sync", "--quiet", "--python", str(python)],
        "ruff check": [uv, "run", "--no-sync", "ruff", "check", "."],
        "ruff format --check": [uv, "run", "--no-sync", "ruff", "format", "--check", "."],
        "pytest": [uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
    }
    output = []
    for name in STEPS:
        try:
            result = run(commands[name], cwd=project, env=PROJECT_ENV, timeout=timeout)
        except (CommandFailed, CommandTimedOut) as exc:
            return ProjectRun(project.name, name, str(exc), str(project))
        output.append(f"$ {name}\n{result.stdout[-2000:]}")
    return ProjectRun(project.name, None, "\n".join(output), str(project))
