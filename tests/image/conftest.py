"""Fixtures for the docker tier: the default project's image and the tags tests make beside it.

Which images the suite builds, and why they speak for every variant: ``test_matrix_coverage.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.errors import GeneratorError
from generator.image.build import build_image
from generator.image.project_image import PreparedImage
from generator.process import run
from generator.tools import require

BuildFn = Callable[[Path], PreparedImage]


@pytest.fixture(scope="session")
def build(image_of: BuildFn) -> BuildFn:
    """The suite's one image fixture (tests/support/images.py), under this tier's name."""
    return image_of


@pytest.fixture(scope="session")
def default_image(build: BuildFn, default_project: Path) -> PreparedImage:
    """The image of the all-defaults project."""
    return build(default_project)


@pytest.fixture
def scratch_tag(default_image: PreparedImage) -> Iterator[Callable[[str], str]]:
    """Make one-off tags beside the default image's; they are removed after the test.

    Their layers stay in the build cache, so later builds still reuse them.
    """
    made: list[str] = []

    def _tag(suffix: str) -> str:
        made.append(f"{default_image.tag}-{suffix}")
        return made[-1]

    yield _tag
    for tag in made:
        run([require("docker"), "image", "rm", tag], check=False)


#: The version the rolling-update tests deploy over the default project's 0.1.0.
NEXT_VERSION = "0.2.0"


@pytest.fixture(scope="session")
def next_version_image(
    default_image: PreparedImage, ca_bundle: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PreparedImage]:
    """The default project with its version bumped, as a user releases an update; built once.

    The service reports the package version as ``model_version``, so the two images' answers
    tell which one served them. Built here rather than through ``build``: the build digest
    leaves the version out (it changes metadata, not how the image builds), so ``build`` would
    hand back the default image.
    """
    project = tmp_path_factory.mktemp("next-version") / default_image.project.name
    shutil.copytree(default_image.project, project)
    # The version comes from git, which an image build cannot see: CI and `make build` pass it
    # as IMAGE_VERSION (the package version and the label), as this release does.
    tag = f"{default_image.tag}-next"
    try:
        result = build_image(
            project,
            tag,
            default_image.result.base_image,
            ca_bundle.path,
            build_args={"IMAGE_VERSION": NEXT_VERSION},
        )
    except GeneratorError as exc:
        pytest.fail(f"building {tag} failed: {exc}")
    yield PreparedImage(project, result)
    run([require("docker"), "image", "rm", tag], check=False)
