"""The suite's scheduling (tests/support/scheduling.py) does what it says under pytest-xdist:
a module's tests share one worker, and units go out longest first. Run on a small suite of its
own, with the suite's own options, so a pytest or xdist upgrade that breaks grouping (as pytest
9.2 did: pytest-xdist issue 1386) fails here instead of doubling costly fixtures unnoticed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

MODULE = """
import pytest

@pytest.mark.parametrize("i", range(6))
def test_shares_a_module_fixture(i):
    pass
"""


def _run(suite: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, str(suite)],
        cwd=suite,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_modules_tests_run_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["support.scheduling"]\n', encoding="utf-8")
    for name in ("test_one.py", "test_two.py", "test_three.py"):
        (tmp_path / name).write_text(MODULE, encoding="utf-8")

    out = _run(tmp_path, "-v", "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")

    workers: dict[str, set[str]] = {}
    for worker, module in re.findall(r"\[(gw\d)\].*PASSED (test_\w+)\.py::", out):
        workers.setdefault(module, set()).add(worker)
    assert sorted(workers) == ["test_one", "test_three", "test_two"], out
    assert all(len(used) == 1 for used in workers.values()), workers


def test_costlier_units_are_handed_out_first(tmp_path):
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["support.scheduling"]\n\n\n'
        "def pytest_configure(config):\n"
        "    from support import scheduling\n\n"
        '    scheduling.COSTS["test_late"] = 60.0\n',
        encoding="utf-8",
    )
    (tmp_path / "test_early.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "test_late.py").write_text(MODULE, encoding="utf-8")

    out = _run(tmp_path, "-n", "0", "--collect-only", "-q")

    order = [line.split("::")[0] for line in out.splitlines() if "::" in line]
    assert order == ["test_late.py"] * 6 + ["test_early.py"] * 6, out
