"""Images: one build per distinct build digest per run, shared by every tier and every worker.

``image_of(project)`` copies and locks the project and builds it through
:func:`generator.image.project_image.prepare_image`, the one build path ``dsdeploy`` uses too.
The CA bundle handed to builds carries a canary line unique to the run, so a test can look for
it in an image's layers. Stale test images (earlier runs') are removed at the end.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.errors import GeneratorError
from generator.image.build import BuildResult, BuildStep
from generator.image.project_image import (
    ImagePrerequisiteMissing,
    PreparedImage,
    prepare_image,
    system_ca_bundle,
)
from generator.process import run
from generator.project.digests import build_digest
from generator.tools import require
from support.shared import once_per_run, run_root

#: Repository of every image the suite builds; stale ones are removed at session end.
TEST_REPOSITORY = "dsdeploy-test-image"
#: The start of every run's canary line.
CANARY_PREFIX = b"# dsdeploy-canary-"


@dataclass(frozen=True)
class CaBundle:
    """The CA bundle handed to test builds, with a canary line unique to this run.

    PEM readers skip text outside certificate blocks, so the canary changes nothing for TLS,
    but any copy of the bundle that reached a layer carries it. Every run's canary starts with
    ``CANARY_PREFIX``: a layer that BuildKit's cache kept from an earlier run's build carries that
    run's canary, and a search for the prefix finds it too.
    """

    path: Path
    canary: bytes


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> CaBundle:
    """The system CA bundle plus the run's canary: builds behind a TLS-inspecting proxy need the former."""

    def make() -> CaBundle:
        canary = CANARY_PREFIX + f"{uuid.uuid4().hex}\n".encode()
        path = run_root(tmp_path_factory) / "ca-bundle.pem"
        system = system_ca_bundle()
        path.write_bytes((system.read_bytes() if system else b"") + b"\n" + canary)
        return CaBundle(path, canary)

    return once_per_run(
        tmp_path_factory,
        "ca-bundle",
        make,
        lambda bundle: {"path": str(bundle.path), "canary": bundle.canary.decode()},
        lambda data: CaBundle(Path(data["path"]), data["canary"].encode()),
    )


def _dump_image(image: PreparedImage) -> dict[str, Any]:
    return {"project": str(image.project), "result": dataclasses.asdict(image.result)}


def _load_image(data: dict[str, Any]) -> PreparedImage:
    result = dict(data["result"])
    result["steps"] = tuple(BuildStep(**step) for step in result["steps"])
    return PreparedImage(Path(data["project"]), BuildResult(**result))


ImageFn = Callable[[Path], PreparedImage]


@pytest.fixture(scope="session")
def image_of(ca_bundle: CaBundle, tmp_path_factory: pytest.TempPathFactory) -> ImageFn:
    """``image_of(project)``: the project's image, built once per build digest per run.

    The project is copied and locked first; the copy is kept with the image, so tests that
    rebuild start from the very same lock file. A machine without a base image or interpreter
    for the project's Python skips, naming it.
    """

    def _image_of(project: Path) -> PreparedImage:
        key = build_digest(project)[:16]

        def make() -> PreparedImage:
            workdir = run_root(tmp_path_factory) / "images" / key
            workdir.mkdir(parents=True, exist_ok=True)
            return prepare_image(project, workdir, ca_bundle=ca_bundle.path, repository=TEST_REPOSITORY)

        try:
            return once_per_run(
                tmp_path_factory, f"{IMAGE_RECORD_PREFIX}{key}", make, _dump_image, _load_image
            )
        except ImagePrerequisiteMissing as exc:
            pytest.skip(exc.message)
        except GeneratorError as exc:
            pytest.fail(f"building the image of {project} failed: {exc}")

    return _image_of


IMAGE_RECORD_PREFIX = "image-"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove test images of earlier runs, once every worker is done (in the controller).

    The run's images are the ones the shared records name; any other tag in the test
    repository names a build digest this run did not build, so it is stale.
    """
    if hasattr(session.config, "workerinput"):
        return
    # The run's TempPathFactory: fixtures have it, hooks only through the config.
    factory = session.config._tmp_path_factory  # type: ignore[attr-defined]
    records = sorted((run_root(factory) / "shared").glob(f"{IMAGE_RECORD_PREFIX}*.json"))
    if not records:
        return  # no image built: the engine may not even be here
    kept = {_load_image(json.loads(record.read_text(encoding="utf-8"))).tag for record in records}
    docker = require("docker")
    listed = run([docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], check=False).stdout.split()
    stale = [tag for tag in listed if tag.startswith(f"{TEST_REPOSITORY}/") and tag not in kept]
    if stale:
        run([docker, "image", "rm", *stale], check=False)
