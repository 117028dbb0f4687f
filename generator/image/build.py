"""Build a rendered project's image with BuildKit, choose its base image, and inspect the result.

Builds run ``docker buildx build`` (BuildKit: cache mounts and secrets) and stream its plain
progress to a callback; the step list is parsed from that output so callers can tell which
layers came from cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.errors import CommandTimedOut, GeneratorError, ToolMissing
from generator.image.base_image import local_base_tag
from generator.process import ProgressFn, ignore_progress, run
from generator.project.fingerprint import tree_digest
from generator.project.render import read_answers
from generator.project.variants import Axis
from generator.tools import require

# Seconds to wait for a registry pull before deciding it cannot be reached.
PULL_TIMEOUT = 120
# Build args that only set OCI labels: they never change how the image builds or runs.
LABEL_ARGS = ("IMAGE_TITLE", "IMAGE_DESCRIPTION", "IMAGE_LICENSES", "IMAGE_VERSION", "IMAGE_SOURCE")
# The parts of pyproject.toml that change what gets installed.
_INSTALL_KEYS = ("requires-python", "dependencies", "optional-dependencies")

_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.+)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")
_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class BuildStep:
    """One Dockerfile instruction as BuildKit reported it.

    Attributes:
        name: ``[stage n/m] INSTRUCTION ...`` as printed by BuildKit.
        cached: The step's result came from the build cache.
        seconds: How long the step ran, as BuildKit reported it (0 when cached).
    """

    name: str
    cached: bool
    seconds: float = 0.0


@dataclass(frozen=True)
class BuildResult:
    """What a build produced.

    Attributes:
        tag: The image reference built.
        image_id: Its id (``sha256:...``).
        base_image: The ``BASE_IMAGE`` it was built on.
        seconds: Wall time of the build.
        steps: Dockerfile steps in the order BuildKit reported them.
    """

    tag: str
    image_id: str
    base_image: str
    seconds: float
    steps: tuple[BuildStep, ...]

    def step(self, fragment: str) -> BuildStep:
        """The first step whose name contains ``fragment``.

        Raises:
            GeneratorError: No step matches.
        """
        for step in self.steps:
            if fragment in step.name:
                return step
        raise GeneratorError(f"no build step of {self.tag} contains {fragment!r}")


def official_base(python_version: str) -> str:
    """The official Python image the Dockerfile defaults to, e.g. ``python:3.12-slim``."""
    return f"python:{python_version}-slim"


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


def choose_base_image(python_version: str, *, pull: bool = True) -> str | None:
    """The base image to build ``python_version`` projects on, or None when there is none.

    Prefers the official ``python:3.X-slim`` (present or pullable), then the local
    ``dsdeploy-base:3.X`` built from Debian packages (:mod:`generator.image.base_image`).

    Args:
        python_version: ``3.X``.
        pull: Try pulling the official image when it is not present.
    """
    official = official_base(python_version)
    if image_exists(official) or (pull and can_pull(official)):
        return official
    local = local_base_tag(python_version)
    return local if image_exists(local) else None


def project_python_version(project: Path) -> str:
    """The ``python_version`` answer a project was rendered with."""
    return str(read_answers(project)["python_version"])


# Answers that change the Dockerfile or the runtime dependencies. with_kubeflow adds modules and
# a dev-only dependency group, so its images build like the others; license, registry and CI
# change labels and files outside the image. The docker tier's coverage test keeps this honest.
IMAGE_AXIS_NAMES = ("python_version", "with_dask", "model_framework")


def image_axes(axes: Iterable[Axis]) -> tuple[Axis, ...]:
    """The axes whose answers change the image (those of ``IMAGE_AXIS_NAMES`` that exist)."""
    return tuple(axis for axis in axes if axis.name in IMAGE_AXIS_NAMES)


def dependency_digest(project: Path) -> str:
    """Digest of the Dockerfile and dependency files: what decides how a project's image builds.

    It covers the Dockerfile (with the defaults of the label-only build args blanked),
    ``.dockerignore`` and the parts of ``pyproject.toml`` that decide what is installed at run
    time. Source files and dev-only dependency groups are left out: they change the wheel and
    the model, not how the image is built. Variants with the same digest build the same way, so
    tests build one image per digest (the render tier runs each distinct source tree's tests).
    """
    digest = hashlib.sha256()
    label_default = re.compile(rf"^(ARG (?:{'|'.join(LABEL_ARGS)}))=.*$", re.M)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    digest.update(label_default.sub(r"\1=", dockerfile).encode())
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    meta = pyproject.get("project", {})
    install = {key: meta.get(key) for key in _INSTALL_KEYS}
    install["build-system"] = pyproject.get("build-system")
    install["tool.uv"] = pyproject.get("tool", {}).get("uv")
    digest.update(repr(sorted(install.items())).encode())
    digest.update(tree_digest(project, [".dockerignore"]).encode())
    return digest.hexdigest()


def build_digest(project: Path) -> str:
    """Digest of everything that goes into a project's image: a cache key for built images.

    :func:`dependency_digest` plus the source tree. Two projects with the same digest build the
    same image up to label values, so a tag carrying it can be reused instead of rebuilt.
    """
    digest = hashlib.sha256(dependency_digest(project).encode())
    digest.update(tree_digest(project, ["src"]).encode())
    return digest.hexdigest()


def parse_steps(lines: Iterable[str]) -> tuple[BuildStep, ...]:
    """The Dockerfile steps in BuildKit ``--progress=plain`` output, with their cache status."""
    names: dict[str, str] = {}
    cached: set[str] = set()
    seconds: dict[str, float] = {}
    for line in lines:
        if match := _STEP.match(line):
            if match.group(2) != "internal":
                names.setdefault(match.group(1), f"[{match.group(2)}] {match.group(3)}")
        elif match := _CACHED.match(line):
            cached.add(match.group(1))
        elif match := _DONE.match(line):
            seconds[match.group(1)] = float(match.group(2))
    return tuple(
        BuildStep(name, number in cached, seconds.get(number, 0.0)) for number, name in names.items()
    )


def build_image(
    project: Path,
    tag: str,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    progress: ProgressFn = ignore_progress,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    no_cache: bool = False,
    timeout: float = 1800,
) -> BuildResult:
    """Build a rendered project's image with BuildKit into the local engine.

    Args:
        project: The rendered project (it must have ``uv.lock``).
        tag: Image reference to create.
        base_image: ``BASE_IMAGE`` build arg; default: :func:`choose_base_image` for the project's
            Python version.
        ca_bundle: CA bundle for a TLS-inspecting proxy, passed as the ``ca_bundle`` BuildKit
            secret (mounted only while packages are fetched; never stored in the image).
        progress: Receives BuildKit's plain progress lines.
        dockerfile: Another Dockerfile to build the same context with (benchmarks).
        build_args: More build args.
        no_cache: Run every step, using no cached layer (cache mounts still serve downloads).
        timeout: Seconds allowed for the build.

    Returns:
        The image's id, base, wall time and steps.

    Raises:
        GeneratorError: No lock file, no base image, a missing CA bundle, or a failed build.
    """
    docker = require("docker")
    if not (project / "uv.lock").is_file():
        raise GeneratorError(
            f"{project} has no uv.lock",
            hint="run `uv lock` in the project (or create it with `dsdeploy new`)",
        )
    if base_image is None:
        version = project_python_version(project)
        base_image = choose_base_image(version)
        if base_image is None:
            raise GeneratorError(
                f"no base image for Python {version}: {official_base(version)} cannot be pulled "
                f"and {local_base_tag(version)} does not exist",
                hint=f"run `dsdeploy base-image --python {version}` or scripts/setup-docker.sh, or pass one",
            )
    if ca_bundle is not None and not ca_bundle.is_file():
        raise GeneratorError(
            f"CA bundle {ca_bundle} is not a file",
            hint="pass a PEM file such as /etc/ssl/certs/ca-certificates.crt",
        )
    args = {"BASE_IMAGE": base_image, **(build_args or {})}
    with tempfile.TemporaryDirectory(prefix="dsdeploy-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        command: list[str | Path] = [
            docker,
            "buildx",
            "build",
            "--progress=plain",
            "--tag",
            tag,
            "--iidfile",
            iidfile,
        ]
        for name, value in args.items():
            command += ["--build-arg", f"{name}={value}"]
        if ca_bundle is not None:
            command += ["--secret", f"id=ca_bundle,src={ca_bundle.resolve()}"]
        if dockerfile is not None:
            command += ["--file", dockerfile]
        if no_cache:
            command.append("--no-cache")
        started = time.monotonic()
        lines = run([*command, project], progress=progress, timeout=timeout).stdout.splitlines()
        seconds = time.monotonic() - started
        image_id = iidfile.read_text(encoding="utf-8").strip()
    return BuildResult(tag, image_id, base_image, seconds, parse_steps(lines))


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
