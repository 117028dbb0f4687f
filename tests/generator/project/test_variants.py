"""The matrix comes from copier.yml, and its GitHub form is a valid strategy.matrix."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import yaml

from generator.errors import GeneratorError
from generator.process import run
from generator.project.source import template_root
from generator.project.variants import (
    GITHUB_MATRIX_LIMIT,
    Axis,
    each_value,
    full_product,
    load_axes,
    pairwise,
    to_github_matrix,
)
from generator.tools import which


def test_axes_are_the_choice_and_bool_questions():
    data = yaml.safe_load((template_root() / "copier.yml").read_text())
    expected = {
        name
        for name, q in data.items()
        if isinstance(q, dict) and q.get("when") is not False and ("choices" in q or q.get("type") == "bool")
    }
    assert {axis.name for axis in load_axes()} == expected


def test_adding_a_choice_grows_the_matrix(tmp_path):
    data = yaml.safe_load((template_root() / "copier.yml").read_text())
    data["license"]["choices"].append("MPL-2.0")
    copier_yml = tmp_path / "copier.yml"
    copier_yml.write_text(yaml.safe_dump(data))
    axes = load_axes(copier_yml)
    assert len(full_product(axes)) == math.prod(len(a.values) for a in axes)
    assert "MPL-2.0" in next(a for a in axes if a.name == "license").values


def test_full_product_ids_are_unique_and_readable():
    matrix = full_product(load_axes())
    ids = [v.id for v in matrix]
    assert len(set(ids)) == len(ids)
    assert all(" " not in i for i in ids)


def test_pairwise_covers_every_pair():
    axes = (
        Axis("a", ("1", "2", "3"), "1"),
        Axis("b", ("x", "y", "z"), "x"),
        Axis("c", (False, True), False),
        Axis("d", ("p", "q"), "p"),
    )
    chosen = pairwise(axes)
    needed = {
        ((a1.name, v1), (a2.name, v2))
        for a1, a2 in itertools.combinations(axes, 2)
        for v1 in a1.values
        for v2 in a2.values
    }
    covered = {pair for v in chosen for pair in itertools.combinations(v.answers, 2)}
    assert needed <= covered
    assert len(chosen) < len(full_product(axes))
    assert chosen[0].as_dict() == {"a": "1", "b": "x", "c": False, "d": "p"}


def test_github_matrix_shape():
    matrix = json.loads(to_github_matrix(pairwise(load_axes())))
    assert set(matrix) == {"include"}
    assert 0 < len(matrix["include"]) <= GITHUB_MATRIX_LIMIT
    for entry in matrix["include"]:
        assert all(isinstance(v, str | bool) for v in entry.values())


def test_github_matrix_refuses_oversize():
    axes = tuple(Axis(f"q{i}", ("a", "b", "c"), "a") for i in range(6))  # 729 variants
    with pytest.raises(GeneratorError, match="--pairwise"):
        to_github_matrix(full_product(axes))


def test_github_matrix_validates_in_a_workflow(tmp_path):
    checker = which("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema not installed (test extra)")
    matrix = json.loads(to_github_matrix(pairwise(load_axes())))
    workflow = {
        "name": "matrix",
        "on": "push",
        "jobs": {
            "render": {
                "runs-on": "ubuntu-latest",
                "strategy": {"matrix": matrix},
                "steps": [{"run": "echo ${{ matrix.id }}"}],
            }
        },
    }
    path = tmp_path / "wf.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    run([checker, "--builtin-schema", "vendor.github-workflows", str(path)], timeout=60)


def test_each_value_covers_every_value_in_as_few_variants_as_the_largest_axis_has_values():
    axes = (
        Axis("a", ("1", "2", "3"), "2"),
        Axis("b", ("x", "y", "z"), "x"),
        Axis("c", (False, True), False),
    )
    chosen = each_value(axes)
    assert chosen[0].as_dict() == {"a": "2", "b": "x", "c": False}  # the defaults come first
    assert {pair for variant in chosen for pair in variant.answers} == {
        (axis.name, value) for axis in axes for value in axis.values
    }
    assert len(chosen) == 3
