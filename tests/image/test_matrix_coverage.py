"""Which images the suite builds, and why they speak for every variant.

Only the image axes (``generator.project.digests.IMAGE_AXIS_NAMES``: Python, framework, Dask)
change how an image builds; the first test proves it over the whole matrix. The suite builds
the default project's image, the Dask tier's and the swaps' (a user's model in the variant's
image): together they hold every value of every image axis, which the second test checks.
Pairs of values need no build of their own: the Dockerfile's Python part (the base, the venv)
and its framework part (LightGBM's OpenMP) are separate instructions, and whether each package
has a wheel for each Python on both image platforms is checked for all 36 projects' locks
(tests/projects/test_locks.py).
"""

from __future__ import annotations

import itertools

from support.swaps import SWAPS

from generator.project.digests import IMAGE_AXIS_NAMES, dependency_digest, image_axes
from generator.project.variants import load_axes

#: The answers of the images the docker tier builds besides the swaps': the default project's
#: and the Dask tier's (tests/dask/conftest.py builds the Dask variant on the default Python).
#: The files :func:`dependency_digest` reads.
BUILD_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml")
BUILT_BESIDE_THE_SWAPS: tuple[dict[str, object], ...] = ({}, {"with_dask": True})


def test_only_the_image_axes_change_an_image(render, matrix_render, matrix_projects):
    # Each combination of the image axes' values, other answers at their defaults, builds one
    # image; every variant of the full matrix must build one of those. Variants whose build
    # inputs are the same files are asked once (the digest reads them from disk).
    axes = image_axes(load_axes())
    names = [axis.name for axis in axes]
    products = itertools.product(*(axis.values for axis in axes))
    combos = [dict(zip(names, values, strict=True)) for values in products]
    known = {dependency_digest(render(answers)) for answers in combos}
    groups: dict[str, list[str]] = {}
    for variant_id, tree in matrix_render.trees.items():
        groups.setdefault(tree.part_digest(BUILD_INPUTS), []).append(variant_id)
    uncovered = [
        variant
        for ids in groups.values()
        if dependency_digest(matrix_projects[ids[0]]) not in known
        for variant in ids
    ]
    assert not uncovered, (
        f"{len(uncovered)} variants build images that no combination of {IMAGE_AXIS_NAMES} builds, e.g. "
        f"{uncovered[:3]}: add the answer that changes images to IMAGE_AXIS_NAMES "
        "(generator/project/digests.py)"
    )


def test_the_built_images_hold_every_value_of_every_image_axis():
    built = [*BUILT_BESIDE_THE_SWAPS, *(swap.answers for swap in SWAPS.values())]
    missing = [
        (axis.name, value)
        for axis in image_axes(load_axes())
        for value in axis.values
        if not any(answers.get(axis.name, axis.default) == value for answers in built)
    ]
    assert missing == [], (
        "no image the suite builds has these answers: add them to a swap (tests/support/swaps.py)"
    )
