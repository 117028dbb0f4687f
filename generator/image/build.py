"""Build a rendered project's image with BuildKit or Podman, choose its base image, and inspect the result.

Builds run ``docker buildx build`` (BuildKit) or ``podman build`` (buildah): both take the
Dockerfile's cache mounts and secrets. Their progress streams to a callback; the step list is
parsed from that output so callers can tell which layers came from cache.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.engine.client import Engine, check_engine
from generator.engine.image_store import can_pull, image_exists, podman_image_exists
from generator.errors import GeneratorError
from generator.image.base_image import local_base_tag
from generator.process import ProgressFn, ignore_progress, run
from generator.project.render import read_answers
from generator.tools import require

_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.+)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")
_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")
# Podman (buildah): ``[2/7] STEP 3/5: RUN ...``, then ``--> Using cache <id>`` or ``--> <id>``.
_PODMAN_STEP = re.compile(r"^\[(\d+/\d+)\] STEP \d+/\d+: (.+)$")
_PODMAN_CACHED = "--> Using cache "


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


def choose_base_image(python_version: str, *, pull: bool = True, engine: Engine = "docker") -> str | None:
    """The base image to build ``python_version`` projects on, or None when there is none.

    Prefers the official ``python:3.X-slim`` (present or pullable), then the local
    ``dsdeploy-base:3.X`` built from Debian packages (:mod:`generator.image.base_image`).

    Args:
        python_version: ``3.X``.
        pull: Try pulling the official image when it is not present (Docker only).
        engine: Whose image store to look in; Podman's is only looked in, never pulled into.
    """
    official = official_base(python_version)
    if engine == "podman":
        present = [
            image for image in (official, local_base_tag(python_version)) if podman_image_exists(image)
        ]
        return present[0] if present else None
    if image_exists(official) or (pull and can_pull(official)):
        return official
    local = local_base_tag(python_version)
    return local if image_exists(local) else None


def project_python_version(project: Path) -> str:
    """The ``python_version`` answer a project was rendered with."""
    return str(read_answers(project)["python_version"])


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


def parse_podman_steps(lines: Iterable[str]) -> tuple[BuildStep, ...]:
    """The Dockerfile steps in ``podman build`` output, with their cache status (no timings)."""
    steps: list[tuple[str, bool]] = []
    for line in lines:
        if match := _PODMAN_STEP.match(line):
            steps.append((f"[{match.group(1)}] {match.group(2)}", False))
        elif line.startswith(_PODMAN_CACHED) and steps:
            steps[-1] = (steps[-1][0], True)
    return tuple(BuildStep(name, cached) for name, cached in steps)


def _build_command(engine: Engine, tag: str, iidfile: Path) -> list[str | Path]:
    if engine == "podman":
        # Podman stores the image locally already; no --load needed. No layer cache: before
        # Podman 4.4 (buildah 1.29) a RUN bind-mounting a cached stage sees stale or missing
        # files (buildah issues 4375, 4522). Downloads still come from the cache mounts.
        return [require("podman"), "build", "--no-cache", "--tag", tag, "--iidfile", iidfile]
    return [require("docker"), "buildx", "build", "--progress=plain", "--tag", tag, "--iidfile", iidfile]


def build_image(
    project: Path,
    tag: str,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    progress: ProgressFn = ignore_progress,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    no_cache: bool = False,
    timeout: float = 1800,
    engine: Engine = "docker",
) -> BuildResult:
    """Build a rendered project's image with BuildKit (or Podman) into the local engine.

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
        target: The Dockerfile stage to build (e.g. ``notebook``); the last one when omitted.
        no_cache: Run every step, using no cached layer (cache mounts still serve downloads).
        timeout: Seconds allowed for the build.
        engine: ``docker`` (``docker buildx build --load``) or ``podman`` (``podman build``,
            always without its layer cache: see :func:`_build_command`).

    Returns:
        The image's id, base, wall time and steps.

    Raises:
        GeneratorError: No lock file, no base image, a missing CA bundle, an unknown engine, or a
            failed build.
    """
    engine = check_engine(engine)
    if not (project / "uv.lock").is_file():
        raise GeneratorError(
            f"{project} has no uv.lock",
            hint="run `uv lock` in the project (or create it with `dsdeploy new`)",
        )
    if base_image is None:
        version = project_python_version(project)
        base_image = choose_base_image(version, engine=engine)
        if base_image is None:
            raise GeneratorError(_no_base(engine, version), hint=_base_hint(engine, version))
    if ca_bundle is not None and not ca_bundle.is_file():
        raise GeneratorError(
            f"CA bundle {ca_bundle} is not a file",
            hint="pass a PEM file such as /etc/ssl/certs/ca-certificates.crt",
        )
    # MODEL_SOURCE always explicit: buildah builds the stage `FROM ${MODEL_SOURCE}` names only
    # when the value comes as a build arg, not from the ARG's default.
    args = {"BASE_IMAGE": base_image, "MODEL_SOURCE": "train", **(build_args or {})}
    with tempfile.TemporaryDirectory(prefix="dsdeploy-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        command = _build_command(engine, tag, iidfile)
        for name, value in args.items():
            command += ["--build-arg", f"{name}={value}"]
        if ca_bundle is not None:
            command += ["--secret", f"id=ca_bundle,src={ca_bundle.resolve()}"]
        if dockerfile is not None:
            command += ["--file", dockerfile]
        if target is not None:
            command += ["--target", target]
        if no_cache and engine == "docker":
            command.append("--no-cache")
        started = time.monotonic()
        lines = run([*command, project], progress=progress, timeout=timeout).stdout.splitlines()
        seconds = time.monotonic() - started
        image_id = iidfile.read_text(encoding="utf-8").strip()
    steps = parse_podman_steps(lines) if engine == "podman" else parse_steps(lines)
    return BuildResult(tag, image_id, base_image, seconds, steps)


def _no_base(engine: Engine, version: str) -> str:
    official, local = official_base(version), local_base_tag(version)
    if engine == "podman":
        return f"no base image for Python {version} in Podman's store: neither {official} nor {local}"
    return f"no base image for Python {version}: {official} cannot be pulled and {local} does not exist"


def _base_hint(engine: Engine, version: str) -> str:
    make = f"run `dsdeploy base-image --python {version}` or scripts/setup-docker.sh"
    if engine == "podman":
        return (
            f"{make}, then copy it into Podman: docker save {local_base_tag(version)} | podman load; "
            "or pass --base-image"
        )
    return f"{make}, or pass one"
