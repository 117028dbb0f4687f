"""The docker tier's representatives: the image axes are complete, and every pair is built."""

from __future__ import annotations

import itertools

from generator.project.digests import IMAGE_AXIS_NAMES, dependency_digest, image_axes
from generator.project.variants import load_axes


def test_only_the_image_axes_change_an_image(render, matrix_projects):
    # Each combination of the image axes' values, other answers at their defaults, builds one
    # image; every variant of the full matrix must build one of those.
    axes = image_axes(load_axes())
    names = [axis.name for axis in axes]
    products = itertools.product(*(axis.values for axis in axes))
    combos = [dict(zip(names, values, strict=True)) for values in products]
    known = {dependency_digest(render(answers)) for answers in combos}
    uncovered = [variant for variant, path in matrix_projects.items() if dependency_digest(path) not in known]
    assert not uncovered, (
        f"{len(uncovered)} variants build images that no combination of {IMAGE_AXIS_NAMES} builds, e.g. "
        f"{uncovered[:3]}: add the answer that changes images to IMAGE_AXIS_NAMES "
        "(generator/project/digests.py)"
    )


def test_representatives_build_every_pair_of_image_axis_values(image_representatives):
    pairs_of_axes = list(itertools.combinations(image_axes(load_axes()), 2))
    wanted = {((a.name, x), (b.name, y)) for a, b in pairs_of_axes for x in a.values for y in b.values}
    built = {
        ((a.name, answers[a.name]), (b.name, answers[b.name]))
        for answers in image_representatives.values()
        for a, b in pairs_of_axes
    }
    assert wanted <= built, f"pairs no representative builds: {sorted(wanted - built)}"
