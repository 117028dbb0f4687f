"""Fixtures for the render tier: each distinct generated project runs its own checks once.

The matrix itself (``matrix_projects``, the ``variant`` parameter) comes from tests/conftest.py,
and so do the projects' runs (``matrix_runs``): they start with the session and go on beside the
other tiers (tests/project_runs.py says which projects run which tests).
"""

from __future__ import annotations

import pytest
from project_runs import MatrixRuns

from generator.project.checks import ProjectRun


@pytest.fixture
def checked_project(request: pytest.FixtureRequest, matrix_runs: MatrixRuns) -> ProjectRun:
    """The (possibly shared) run of the variant named by the test's ``variant`` parameter."""
    variant = request.getfixturevalue("variant")
    outcome = matrix_runs.result(variant.id)
    if outcome is None:
        pytest.skip(f"no Python {variant.as_dict()['python_version']} interpreter here (pyenv or PATH)")
    return outcome
