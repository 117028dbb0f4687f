"""What the local engine can tell about an image: present, pullable, size, config, layers, history.

:func:`find_in_layers` reads every layer, so a secret a build wrote and removed is still found.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from generator.errors import CommandTimedOut, ToolMissing
from generator.process import run
from generator.tools import require

# Seconds to wait for a registry pull before deciding it cannot be reached.
PULL_TIMEOUT = 120


def image_exists(image: str) -> bool:
    """Whether ``image`` is in the local engine's image store."""
    return (
        run([require("docker"), "image", "inspect", "--format", "{{.Id}}", image], check=False).returncode
        == 0
    )


def can_pull(image: str, *, timeout: float = PULL_TIMEOUT) -> bool:
    """Try to pull ``image``; a registry that cannot be reached (or is slow past ``timeout``) is a no."""
    try:
        return (
            run([require("docker"), "pull", "--quiet", image], check=False, timeout=timeout).returncode == 0
        )
    except (ToolMissing, CommandTimedOut):
        return False


def image_size(image: str) -> int:
    """Bytes the image takes uncompressed (all its layers, the base included)."""
    return int(run([require("docker"), "image", "inspect", "--format", "{{.Size}}", image]).stdout.strip())


def image_config(image: str) -> dict[str, object]:
    """The image's ``Config`` (User, Env, Labels, Cmd, ...) as the engine reports it."""
    output = run([require("docker"), "image", "inspect", "--format", "{{json .Config}}", image]).stdout
    return dict(json.loads(output))


def image_layers(image: str) -> tuple[str, ...]:
    """The digests of the image's filesystem layers, base first."""
    output = run([require("docker"), "image", "inspect", "--format", "{{json .RootFS.Layers}}", image]).stdout
    return tuple(json.loads(output))


def image_history(image: str) -> tuple[str, ...]:
    """The ``created_by`` line of every layer, base first."""
    output = run([require("docker"), "history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
    return tuple(reversed(output.splitlines()))


def find_in_layers(image: str, needles: Iterable[bytes], paths: Iterable[str] = ()) -> tuple[str, ...]:
    """Files in any layer of ``image`` whose content contains a needle or whose path is listed.

    Exports the image with ``docker save`` and reads every layer, so a file deleted by a later
    layer is still found: a secret written and removed again would still ship.

    Args:
        image: Image reference.
        needles: Byte strings that must appear nowhere.
        paths: Paths (relative, like ``run/secrets/ca_bundle``) that must exist in no layer.

    Returns:
        ``layer:path`` of every hit; empty when the image is clean.
    """
    wanted = tuple(needles)
    banned = {p.strip("/") for p in paths}
    hits: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsdeploy-save-") as scratch:
        archive = Path(scratch) / "image.tar"
        run([require("docker"), "save", "--output", archive, image], timeout=600)
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
