"""Fixtures for the docker tier: one image per distinct build, built once per session.

Which variants can differ in their image is decided at collection time from copier.yml's axes
(``generator.project.digests.IMAGE_AXIS_NAMES``); ``test_matrix_coverage.py`` fails if any other answer
changes an image, or if the representatives miss a pair of image-axis values.
Representatives that turn out identical (same build digest) share one build.
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
from generator.project.digests import image_axes
from generator.project.variants import load_axes, pairwise
from generator.tools import require


def representative_answers() -> list[dict[str, str | bool]]:
    """A pairwise cover of the image axes (other answers keep their defaults).

    Every pair of image-axis values is built (each framework on each Python, each with and
    without Dask): 9 images instead of the full product's 18, which does not fit CI's budget.
    test_matrix_coverage.py proves these axes are the only ones that change an image.
    """
    return [dict(variant.as_dict()) for variant in pairwise(image_axes(load_axes()))]


def representative_id(answers: dict[str, str | bool]) -> str:
    """Readable id such as ``py3.12-sklearn`` or ``py3.12-xgboost-dask``."""
    parts = []
    for name, value in answers.items():
        if name == "python_version":
            parts.append(f"py{value}")
        elif value is True:
            parts.append(name.removeprefix("with_"))
        elif isinstance(value, str):
            parts.append(value)
    return "-".join(parts)


REPRESENTATIVES = representative_answers()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that takes ``image_answers`` over the representatives."""
    if "image_answers" in metafunc.fixturenames:
        ids = [representative_id(answers) for answers in REPRESENTATIVES]
        metafunc.parametrize("image_answers", REPRESENTATIVES, ids=ids)


@pytest.fixture(scope="session")
def image_representatives() -> dict[str, dict[str, str | bool]]:
    """The representatives' answers by id."""
    return {representative_id(answers): answers for answers in REPRESENTATIVES}


BuildFn = Callable[[Path], PreparedImage]


@pytest.fixture(scope="session")
def build(image_of: BuildFn) -> BuildFn:
    """The suite's one image fixture (tests/conftest.py), under this tier's name."""
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
