"""Parameters of the project runs: the covers of tests/support/projects.py, with readable ids."""

from __future__ import annotations

import pytest
from support.projects import ALL_PROJECTS, FAST_COVER, MAKE_TEST_COVER, RUNTIME_COVER, cover_ids


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``fast_variant``, ``make_test_variant``, ``runtime_variant`` and
    ``project_variant`` over their covers.

    The tests of one fast-cover project read one run of it: an xdist group keeps them on one
    worker, where the run is made once (``MAKE_TEST_COVER`` is part of the fast cover).
    """
    for name, cover in (("fast_variant", FAST_COVER), ("make_test_variant", MAKE_TEST_COVER)):
        if name in metafunc.fixturenames:
            params = [
                pytest.param(variant, id=variant.id, marks=pytest.mark.xdist_group(f"project-{variant.id}"))
                for variant in cover
            ]
            metafunc.parametrize(name, params)
    for name, cover in (("runtime_variant", RUNTIME_COVER), ("project_variant", ALL_PROJECTS)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, cover, ids=cover_ids(cover))
