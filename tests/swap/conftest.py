"""Swap tests: a user makes the project theirs, in the places its README names, and it stays green.

The swaps themselves, ``swapped`` (the edited projects) and ``swap_run`` (their own lint and fast
tests) are in tests/support/swaps.py.
"""

from __future__ import annotations

import pytest
from support.swaps import SWAPS, Swap


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that takes ``swap_id`` over the swaps."""
    if "swap_id" in metafunc.fixturenames:
        metafunc.parametrize("swap_id", list(SWAPS))


@pytest.fixture
def swap(swap_id: str) -> Swap:
    """The swap of the test's ``swap_id``."""
    return SWAPS[swap_id]
