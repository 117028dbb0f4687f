"""How the run is shared out between pytest-xdist's workers: groups, then the longest first.

The suite runs under ``-n auto --dist loadgroup --no-loadscope-reorder`` (pyproject's addopts):
a worker is handed the next unit in collection order whenever it has nearly nothing left, and
a unit is one test or every test of one ``xdist_group``. So:

- tests that share a costly fixture run in one group, so the fixture is made once: by default
  a module's tests (its module-scoped fixtures), the tests of a running local service or the
  browser (``services``), the update tier's updated projects (``update``). The modules in
  ``SPREAD`` share nothing costly but run-wide records (images, tests/support/shared.py), so
  their tests go out one by one and both workers can take them;
- units are handed out longest first (``COSTS``, seconds measured in a clean run, one worker's
  view), the many millisecond ones last: whichever worker is free takes the next longest, so both
  finish close together (the longest-first rule for scheduling on identical machines).

Without xdist (``-n 0``) the marks change nothing and the order still holds.
"""

from __future__ import annotations

import pytest

#: Fixtures whose holders must share one worker: the value names their group.
SHARED_FIXTURE_GROUPS = {
    "local_service": "services",
    "browser": "services",
    "updated_projects": "update",
    # Built once on one worker, whose session end removes them: no other worker may still use them.
    "model_images": "image/model-images",
}
#: Modules whose tests are independent units (each makes or reuses run-wide things only).
SPREAD = frozenset(
    {
        "tests/projects/test_runs.py",
        "tests/projects/test_locks.py",
        "tests/swap/test_swap.py",
        "tests/image/test_images.py",
        # One project per framework, each a copy beside an image another test builds.
        "tests/image/test_import_equality.py",
    }
)
#: Estimated seconds of the longest units, from a clean run's report (a group's name, or the start
#: of a spread test's id); the rest count as a millisecond a test. Off by half changes little:
#: the order is what matters.
COSTS: dict[str, float] = {
    "tests/projects/test_runs.py::test_project_passes_its_runtime_and_notebook_tests": 200,
    "services": 270,
    "update": 150,
    "chart/test_variants": 60,
    "image/test_podman": 130,
    "project-locks": 110,
    "chart/test_user_checks": 100,
    "image/test_apptainer": 120,
    "dask/test_containers": 80,
    "render/test_precommit": 80,
    "render/test_equivalence": 80,
    "image/test_rolling_update": 75,
    "image/model-images": 60,
    "render/test_matrix": 70,
    "tests/swap/test_swap.py::test_swapped_image": 70,
    "tests/image/test_import_equality.py": 75,
    "project-": 60,
    "kind/test_podspec": 60,
    "kind/test_podspec_faults": 60,
    "kind/test_kserve_runtime": 15,
    "workflows/test_registry_answers": 60,
    "kubeflow/test_local_run": 55,
    "image/test_notebook_image": 50,
    "image/test_import_sandbox": 45,
    "render/test_cookiecutter": 50,
    "kubeflow/test_pipeline_compile": 20,
    "tests/swap/test_swap.py::test_swapped_project": 45,
    "workflows/test_github": 40,
    "generator/test_cli_model": 20,
}


def group_of(item: pytest.Item) -> str | None:
    """The xdist group of a test: an explicit mark, a shared fixture's, its module's, or none."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    fixtures = set(getattr(item, "fixturenames", ()))
    for fixture, group in SHARED_FIXTURE_GROUPS.items():
        if fixture in fixtures:
            return group
    module = item.nodeid.split("::", 1)[0]
    # Short names: xdist shows the group after an @ in each test's id.
    return None if module in SPREAD else module.removeprefix("tests/").removesuffix(".py")


def cost_of(key: str) -> float:
    """The estimated seconds of a unit named ``key`` (a group, or a test's id)."""
    for prefix, seconds in COSTS.items():
        if key.startswith(prefix):
            return seconds
    return 0.0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test's group, then order the units longest first (stable otherwise)."""
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        group = group_of(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
        units.setdefault(group or item.nodeid, []).append(item)
    ordered = sorted(units.items(), key=lambda unit: -max(cost_of(unit[0]), len(unit[1]) * 0.001))
    items[:] = [item for _, members in ordered for item in members]
