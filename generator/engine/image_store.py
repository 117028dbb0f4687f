"""What the engines' image stores hold: present, pullable, size, config, layers, history.

Asked through the Docker SDK, the same client the container checks use (builds alone go through
the CLI, for BuildKit's secrets and cache mounts). :func:`find_in_layers` reads every layer, so
a secret a build wrote and removed is still found. Podman's store is asked through its CLI, and
:func:`copy_image_to_podman` copies a Docker image into it.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.images

from generator.engine.client import docker_client
from generator.errors import GeneratorError
from generator.process import run
from generator.tools import require

# Seconds to wait for a registry pull before deciding it cannot be reached.
PULL_TIMEOUT = 120


def _image(image: str, client: docker.DockerClient | None = None) -> docker.models.images.Image:
    try:
        return (client or docker_client()).images.get(image)
    except docker.errors.ImageNotFound:
        hint = "build it first: dsdeploy build PROJECT"
        raise GeneratorError(f"no image {image} here", hint=hint) from None


def image_exists(image: str) -> bool:
    """Whether ``image`` is in the local engine's image store (no engine: it is not)."""
    try:
        docker_client().images.get(image)
    except (docker.errors.DockerException, GeneratorError):
        return False
    return True


def can_pull(image: str, *, timeout: float = PULL_TIMEOUT) -> bool:
    """Try to pull ``image``; a registry that cannot be reached (or is slow past ``timeout``) is a no."""
    try:
        docker.from_env(timeout=int(timeout)).images.pull(image)
    except (docker.errors.DockerException, OSError):
        # OSError covers the HTTP layer's timeouts and refused connections.
        return False
    return True


def podman_image_exists(image: str) -> bool:
    """Whether ``image`` is in Podman's image store (no podman: it is not)."""
    try:
        podman = require("podman")
    except GeneratorError:
        return False
    return run([podman, "image", "exists", image], check=False, timeout=60).returncode == 0


def copy_image_to_podman(image: str) -> None:
    """Copy ``image`` from Docker's store into Podman's (``docker save | podman load``).

    A base image built locally with Docker (``dsdeploy base-image``) is then a Podman build's
    base too. Podman stores an unqualified name as ``localhost/<name>``, and finds it again
    under the short name.

    Raises:
        GeneratorError: Either engine is missing or the copy failed.
    """
    docker_cli, podman = require("docker"), require("podman")
    with tempfile.TemporaryDirectory(prefix="dsdeploy-image-") as scratch:
        archive = Path(scratch) / "image.tar"
        run([docker_cli, "save", "--output", archive, image], timeout=600)
        run([podman, "load", "--input", archive], timeout=600)


def image_size(image: str) -> int:
    """Bytes the image takes uncompressed (all its layers, the base included)."""
    return int(_image(image).attrs["Size"])


def image_config(image: str, client: docker.DockerClient | None = None) -> dict[str, Any]:
    """The image's ``Config`` (User, Env, Labels, Cmd, ...) as the engine reports it (``client``: Docker)."""
    return dict(_image(image, client).attrs["Config"] or {})


def image_layers(image: str) -> tuple[str, ...]:
    """The digests of the image's filesystem layers, base first."""
    return tuple(_image(image).attrs["RootFS"]["Layers"])


def image_history(image: str) -> tuple[str, ...]:
    """The ``created_by`` line of every layer, base first."""
    return tuple(str(step.get("CreatedBy") or "") for step in reversed(_image(image).history()))


def find_in_layers(
    image: str,
    needles: Iterable[bytes],
    paths: Iterable[str] = (),
    client: docker.DockerClient | None = None,
) -> tuple[str, ...]:
    """Files in any layer of ``image`` whose content contains a needle or whose path is listed.

    Exports the image with ``docker save`` and reads every layer, so a file deleted by a later
    layer is still found: a secret written and removed again would still ship.

    Args:
        image: Image reference.
        needles: Byte strings that must appear nowhere.
        paths: Paths (relative, like ``run/secrets/ca_bundle``) that must exist in no layer.
        client: The engine's client (default: Docker's; Podman's API exports the same archive).

    Returns:
        ``layer:path`` of every hit; empty when the image is clean.
    """
    wanted = tuple(needles)
    banned = {p.strip("/") for p in paths}
    hits: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsdeploy-save-") as scratch:
        archive = Path(scratch) / "image.tar"
        with archive.open("wb") as out:
            for chunk in _image(image, client).save(named=True):
                out.write(chunk)
        with tarfile.open(archive) as outer:
            for member in outer:
                if not member.isfile() or member.name.endswith((".json", "repositories")):
                    continue
                blob = outer.extractfile(member)
                if blob is None:
                    continue
                try:
                    layer = tarfile.open(fileobj=blob)  # noqa: SIM115 - closed by the `with` below
                except tarfile.TarError:
                    continue  # not a layer (config or index blob)
                with layer:
                    for entry in layer:
                        name = entry.name.removeprefix("./")
                        if name in banned:
                            hits.append(f"{member.name}:{name}")
                        if wanted and entry.isfile():
                            data = layer.extractfile(entry)
                            content = data.read() if data else b""
                            if any(needle in content for needle in wanted):
                                hits.append(f"{member.name}:{name}")
    return tuple(hits)
