"""The variant matrix, read from copier.yml.

Every question with ``choices`` or ``type: bool`` that is asked (not ``when: false``) is an axis.
The matrix is the full product of the axes, or a pairwise cover of it (every pair of values of
every two axes appears at least once) for CI systems that cap matrix size.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from generator.errors import GeneratorError
from generator.project.source import template_root

# GitHub Actions refuses a matrix of more than 256 jobs.
GITHUB_MATRIX_LIMIT = 256

Value = str | bool


@dataclass(frozen=True)
class Axis:
    """One question that varies across the matrix."""

    name: str
    values: tuple[Value, ...]
    default: Value


@dataclass(frozen=True)
class Variant:
    """One point of the matrix: a value for every axis."""

    answers: tuple[tuple[str, Value], ...]

    @property
    def id(self) -> str:
        """Readable, unique id such as ``py3.12-MIT`` (booleans read ``kubeflow`` / ``no-kubeflow``)."""
        parts = []
        for name, value in self.answers:
            if isinstance(value, bool):
                label = name.removeprefix("with_")
                parts.append(label if value else f"no-{label}")
            elif name == "python_version":
                parts.append(f"py{value}")
            else:
                parts.append(str(value))
        return "-".join(parts)

    def as_dict(self) -> dict[str, Value]:
        """The answers as a mapping for copier."""
        return dict(self.answers)


def load_questions(copier_yml: Path | None = None) -> dict[str, dict[str, Any]]:
    """The questions of copier.yml (settings, keys starting with ``_``, left out)."""
    path = copier_yml or template_root() / "copier.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_") and isinstance(value, dict)}


def load_axes(copier_yml: Path | None = None) -> tuple[Axis, ...]:
    """The axes of the matrix, in copier.yml order."""
    axes = []
    for name, question in load_questions(copier_yml).items():
        if question.get("when") is False:
            continue
        if "choices" in question:
            choices = question["choices"]
            values = tuple(choices.values() if isinstance(choices, dict) else choices)
        elif question.get("type") == "bool":
            values = (False, True)
        else:
            continue
        axes.append(
            Axis(name=name, values=tuple(_plain(v) for v in values), default=_plain(question.get("default")))
        )
    return tuple(axes)


def _plain(value: Any) -> Value:
    return value if isinstance(value, bool) else str(value)


def full_product(axes: Sequence[Axis]) -> list[Variant]:
    """Every combination of every axis value."""
    names = [axis.name for axis in axes]
    return [
        Variant(tuple(zip(names, combo, strict=True)))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def pairwise(axes: Sequence[Axis]) -> list[Variant]:
    """A small set of variants in which every pair of values of any two axes occurs.

    Greedy cover: start from the all-defaults variant, then repeatedly take the candidate that
    covers most pairs not yet covered. Deterministic, so CI matrices are stable.
    """
    candidates = full_product(axes)
    default = Variant(tuple((axis.name, axis.default) for axis in axes))
    uncovered = {pair for variant in candidates for pair in _pairs(variant)}
    chosen: list[Variant] = []
    pick = default if default in candidates else candidates[0]
    while uncovered:
        chosen.append(pick)
        uncovered -= _pairs(pick)
        if not uncovered:
            break
        pick = max(candidates, key=lambda v: len(_pairs(v) & uncovered))
    return chosen


def each_value(axes: Sequence[Axis]) -> list[Variant]:
    """A few variants in which every value of every axis occurs at least once (defaults first).

    Greedy like :func:`pairwise`, for singles instead of pairs: as many variants as the largest
    axis has values.
    """
    candidates = full_product(axes)
    default = Variant(tuple((axis.name, axis.default) for axis in axes))
    uncovered = {pair for variant in candidates for pair in variant.answers}
    chosen: list[Variant] = []
    pick = default if default in candidates else candidates[0]
    while uncovered:
        chosen.append(pick)
        uncovered -= set(pick.answers)
        if not uncovered:
            break
        pick = max(candidates, key=lambda v: len(set(v.answers) & uncovered))
    return chosen


def _pairs(variant: Variant) -> set[tuple[tuple[str, Value], tuple[str, Value]]]:
    return set(itertools.combinations(variant.answers, 2))


def variants(mode: Literal["full", "pairwise"] = "full", copier_yml: Path | None = None) -> list[Variant]:
    """The matrix in the given mode."""
    axes = load_axes(copier_yml)
    return full_product(axes) if mode == "full" else pairwise(axes)


def default_variant(copier_yml: Path | None = None) -> Variant:
    """The variant a user gets with ``--defaults``."""
    return Variant(tuple((axis.name, axis.default) for axis in load_axes(copier_yml)))


def to_json(items: Iterable[Variant]) -> str:
    """A JSON list of ``{"id": ..., "answers": {...}}``."""
    return json.dumps([{"id": v.id, "answers": v.as_dict()} for v in items], indent=2)


def to_github_matrix(items: Sequence[Variant]) -> str:
    """A compact JSON object usable as ``strategy.matrix`` via ``fromJSON``.

    Raises:
        GeneratorError: The matrix is larger than GitHub accepts.
    """
    if len(items) > GITHUB_MATRIX_LIMIT:
        raise GeneratorError(
            f"the matrix has {len(items)} variants but GitHub accepts at most {GITHUB_MATRIX_LIMIT} jobs",
            hint="use --pairwise for a covering subset",
        )
    include = [{"id": v.id, **v.as_dict()} for v in items]
    return json.dumps({"include": include}, separators=(",", ":"))
