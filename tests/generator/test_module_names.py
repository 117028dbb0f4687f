"""No two of generator/'s modules or packages are named one letter apart (engine.py and engines.py were)."""

from __future__ import annotations

import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "generator"


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether one insertion, deletion or substitution turns ``a`` into ``b``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    shorter, longer = sorted((a, b), key=len)
    prefix = next((i for i, (x, y) in enumerate(zip(shorter, longer, strict=False)) if x != y), len(shorter))
    skip = 1 if len(shorter) == len(longer) else 0
    return shorter[prefix + skip :] == longer[prefix + 1 :]


def test_one_edit_apart():
    assert _one_edit_apart("engine", "engines")
    assert _one_edit_apart("image", "images")
    assert _one_edit_apart("probe", "prose")
    assert not _one_edit_apart("engine", "engine")
    assert not _one_edit_apart("client", "clients_")
    assert not _one_edit_apart("smoke", "stoke_")


def test_no_two_names_are_one_letter_apart():
    names = {path.stem for path in PACKAGE.rglob("*.py") if path.stem != "__init__"}
    names |= {path.name for path in PACKAGE.rglob("*") if path.is_dir() and path.name != "__pycache__"}
    twins = [(a, b) for a, b in itertools.combinations(sorted(names), 2) if _one_edit_apart(a, b)]
    assert not twins, f"names one letter apart, easy to mistake for each other: {twins}"
