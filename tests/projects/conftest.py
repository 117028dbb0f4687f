"""Parameters of the project runs: the covers of tests/support/projects.py, with readable ids."""

from __future__ import annotations

import pytest
from support.projects import ALL_PROJECTS, FAST_COVER, RUNTIME_COVER, cover_ids


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``fast_variant``, ``runtime_variant`` and ``project_variant`` over their covers."""
    for name, cover in (
        ("fast_variant", FAST_COVER),
        ("runtime_variant", RUNTIME_COVER),
        ("project_variant", ALL_PROJECTS),
    ):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, cover, ids=cover_ids(cover))
