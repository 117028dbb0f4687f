"""The docker tier's representatives cover every image the matrix can build."""

from __future__ import annotations

from generator.images import build_digest
from generator.variants import variants


def test_every_variant_builds_an_image_a_representative_covers(render, image_representatives):
    covered = {build_digest(render(answers)) for answers in image_representatives.values()}
    uncovered = [v.id for v in variants("pairwise") if build_digest(render(v.as_dict())) not in covered]
    assert not uncovered, (
        f"these variants build images that no docker-tier representative covers: {uncovered}; "
        "add the answer that changes the image to image_axes() in tests/image/conftest.py"
    )
