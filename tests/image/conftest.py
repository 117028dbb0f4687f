"""Fixtures for the docker tier: the default project's image and the tags tests make beside it.

Which images the suite builds, and why they speak for every variant: ``test_matrix_coverage.py``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.engine.run import hardened_run_options
from generator.errors import GeneratorError
from generator.image.build import build_image
from generator.image.project_image import PreparedImage
from generator.process import run
from generator.project.render import read_answers
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


@dataclass(frozen=True)
class ModelImages:
    """Two model images (``make model-image``) for the default image: its own model, and another.

    ``v1`` packages the model the default image was built with; ``v2`` one trained by the
    project's own ``train`` with another seed (so it answers otherwise), run in that image.
    """

    v1: str
    v2: str
    folders: dict[str, Path]


def make_model_image(project: Path, folder: Path, tag: str, base_image: str) -> None:
    """The user's ``make model-image``, on ``folder``; VERSION fixed so make asks git nothing."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["UV_PYTHON_DOWNLOADS"] = "never"
    command = ["make", "model-image", f"MODEL_DIR={folder}", f"MODEL_IMAGE={tag}", f"BASE_IMAGE={base_image}"]
    done = subprocess.run(
        [*command, "VERSION=0.1.0"], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def model_images(
    default_image: PreparedImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelImages]:
    """Built once per run: a few seconds each (a static busybox and the model's few files)."""
    import docker

    client = docker.from_env()
    root = tmp_path_factory.mktemp("model-images")
    v1, v2 = root / "v1", root / "v2"
    # v1: the image's own /opt/model, copied out as `docker cp` would.
    container = client.containers.create(default_image.tag)
    try:
        bits, _ = container.get_archive("/opt/model/.")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as archive:
            archive.extractall(v1, filter="data")
    finally:
        container.remove(force=True)
    # v2: the project's own training, another seed, run in the image as the chart runs it.
    v2.mkdir(mode=0o777)
    v2.chmod(0o777)
    package = read_answers(default_image.project)["package_name"]
    client.containers.run(
        default_image.tag,
        ["python", "-m", f"{package}.train", "--output", "/out", "--random-state", "7"],
        volumes={str(v2): {"bind": "/out", "mode": "rw"}},
        remove=True,
        **hardened_run_options(),
    )
    tags = ModelImages(f"{default_image.tag}-model-v1", f"{default_image.tag}-model-v2", {"v1": v1, "v2": v2})
    base = default_image.result.base_image
    make_model_image(default_image.project, v1, tags.v1, base)
    make_model_image(default_image.project, v2, tags.v2, base)
    yield tags
    for tag in (tags.v1, tags.v2):
        run([require("docker"), "image", "rm", tag], check=False)
