"""The docker tier's representatives cover every image the matrix can build."""

from __future__ import annotations

from generator.images import dependency_digest


def test_every_variant_builds_an_image_a_representative_covers(
    render, image_representatives, matrix_projects
):
    covered = {dependency_digest(render(answers)) for answers in image_representatives.values()}
    uncovered = [
        variant for variant, path in matrix_projects.items() if dependency_digest(path) not in covered
    ]
    assert not uncovered, (
        f"{len(uncovered)} variants build images that no docker-tier representative covers, e.g. "
        f"{uncovered[:3]}: add the answer that changes images to IMAGE_AXIS_NAMES (tests/image/conftest.py)"
    )
