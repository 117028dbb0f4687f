"""A swapped imported model stops `make build MODEL_SOURCE=imported` and the image build itself.

The default image's own model folder (model.joblib and the signature.json recording its SHA-256)
goes into ``imported/`` of a copy of the default project, and one byte is added to the artifact.
The Makefile's host check refuses it before any layer is built; a plain `docker buildx build`
(CI's, or a user's) refuses it in the ``imported`` stage. The build reuses the default image's
dependency layers from the cache: about a second (the generated project's own tests prove the
check's every case in-process; this proves the build runs it).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import docker
import pytest

from generator.errors import GeneratorError
from generator.image.build import build_image
from generator.image.project_image import PreparedImage

pytestmark = pytest.mark.docker

#: What the image build needs of the project (the .dockerignore allowlist) and `make build` reads.
CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "Makefile",
    ".python-version",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "LICENSE",
    "src",
)
REFUSAL = re.compile(
    r"integrity: \S*model\.joblib has SHA-256 (\w{64}) but \S*signature\.json records (\w{64}): "
)


def imported_copy(default_image: PreparedImage, project: Path) -> Path:
    """A copy of the default project whose imported/ holds the image's own /opt/model (profile.json too)."""
    for name in CONTEXT:
        source = default_image.project / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    container = docker.from_env().containers.create(default_image.tag)
    try:
        bits, _ = container.get_archive("/opt/model/.")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as archive:
            archive.extractall(project / "imported", filter="data")
    finally:
        container.remove(force=True)
    return project


@pytest.fixture(scope="module")
def swapped_import(default_image: PreparedImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the default project whose imported/model.joblib is not the file its signature records."""
    project = imported_copy(default_image, tmp_path_factory.mktemp("swapped-import"))
    with (project / "imported" / "model.joblib").open("ab") as artifact:
        artifact.write(b"\0")
    return project


def test_make_build_refuses_a_swapped_import_before_building(
    swapped_import: Path, default_image: PreparedImage
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])  # uv, for `make python`
    env["UV_PYTHON_DOWNLOADS"] = "never"
    command = [
        "make",
        "build",
        "MODEL_SOURCE=imported",
        "VERSION=0.1.0",
        f"BASE_IMAGE={default_image.result.base_image}",
        f"IMAGE={default_image.tag}-swapped",  # were it built after all, a tag the session removes
    ]
    done = subprocess.run(command, cwd=swapped_import, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout
    refusal = REFUSAL.search(done.stderr)
    assert refusal, done.stderr
    assert refusal[1] != refusal[2]
    assert "buildx" not in done.stdout, "the build started before the check"


def test_the_image_build_refuses_a_swapped_import(
    swapped_import: Path, default_image: PreparedImage, ca_bundle
) -> None:
    with pytest.raises(GeneratorError) as refused:
        build_image(
            swapped_import,
            f"{default_image.tag}-swapped-import",
            default_image.result.base_image,
            ca_bundle.path,
            build_args={"MODEL_SOURCE": "imported"},
            target="imported",
            timeout=300,
        )
    assert REFUSAL.search(str(refused.value)), str(refused.value)


def test_the_imported_stage_ships_the_profile_when_the_import_made_one(
    default_image: PreparedImage, ca_bundle, tmp_path: Path
) -> None:
    # The same honest model twice: with profile.json (an import with PROFILE_DATA), then without
    # (the stage's copy of it is optional, not a failure).
    project = imported_copy(default_image, tmp_path)
    profile = (project / "imported" / "profile.json").read_bytes()
    client = docker.from_env()
    for ships in (True, False):
        if not ships:
            (project / "imported" / "profile.json").unlink()
        tag = f"{default_image.tag}-imported-profile"
        build_image(
            project,
            tag,
            default_image.result.base_image,
            ca_bundle.path,
            build_args={"MODEL_SOURCE": "imported"},
            target="imported",
            timeout=300,
        )
        try:
            listing = client.containers.run(tag, ["ls", "/opt/model"], remove=True).decode().split()
            shipped = (
                client.containers.run(tag, ["cat", "/opt/model/profile.json"], remove=True) if ships else b""
            )
        finally:
            client.images.remove(tag, force=True)
        assert ("profile.json" in listing) is ships, listing
        assert shipped == profile if ships else not shipped
