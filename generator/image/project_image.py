"""One path from a rendered project to its image: copy, lock, choose the base, build, tag.

Every caller that needs a project's image (``dsdeploy deploy``, the benchmarks, the test
suite's one image fixture) goes through :func:`prepare_image`, so an image is locked with a
local interpreter and downloads off, built behind a TLS-inspecting proxy with the CA bundle as
a BuildKit secret, and tagged by its build digest the same way everywhere.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from generator.engine.client import Engine
from generator.errors import GeneratorError
from generator.image.build import BuildResult, build_image, choose_base_image, project_python_version
from generator.process import ProgressFn, ignore_progress, run
from generator.project.digests import build_digest
from generator.project.render import read_answers
from generator.tools import find_python, require

#: The system bundle: where the machine's TLS-inspecting proxy CA lives, when there is one.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ImagePrerequisiteMissing(GeneratorError):
    """No base image or no interpreter of the project's Python version here (not a build failure)."""


@dataclass(frozen=True)
class PreparedImage:
    """An image built from a locked copy of a project.

    Attributes:
        project: The locked copy it was built from (treat as read-only: others reuse the image).
        result: The build's result (tag, id, base, steps).
    """

    project: Path
    result: BuildResult

    @property
    def tag(self) -> str:
        """The image's tag."""
        return self.result.tag


def system_ca_bundle() -> Path | None:
    """The machine's CA bundle, if it has one (harmless where no proxy inspects TLS)."""
    return SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None


def lock(project: Path) -> None:
    """Write ``uv.lock`` with the project's own Python version, never downloading one.

    uv cannot download interpreters on every machine and pyenv shims of non-global versions
    fail, so the interpreter is found (:func:`generator.tools.find_python`) and named.

    Raises:
        ImagePrerequisiteMissing: No interpreter of that version here.
    """
    version = project_python_version(project)
    python = find_python(version)
    if python is None:
        raise ImagePrerequisiteMissing(
            f"no Python {version} interpreter here to lock the project with",
            hint=f"install one (pyenv install {version}) or put python{version} on PATH",
        )
    run(
        [require("uv"), "lock", "--quiet", "--python", python],
        cwd=project,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )


def image_tag(project: Path, repository: str = "dsdeploy-test") -> str:
    """``repository/<slug>:<build digest>``: the same project content always gets the same tag."""
    return f"{repository}/{read_answers(project)['project_slug']}:{build_digest(project)[:12]}"


def prepare_image(
    project: Path,
    workdir: Path,
    *,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    repository: str = "dsdeploy-test",
    tag: str | None = None,
    relock: bool = True,
    dockerfile: Path | None = None,
    target: str | None = None,
    progress: ProgressFn = ignore_progress,
    engine: Engine = "docker",
) -> PreparedImage:
    """Copy ``project`` into ``workdir``, lock it, and build its image on a suitable base.

    Args:
        project: A rendered project (not changed).
        workdir: An empty folder for the locked copy.
        base_image: The base; the official ``python:3.X-slim`` or the local one when omitted.
        ca_bundle: CA bundle handed to the build as a secret; the system's when omitted.
        repository: Repository part of the tag.
        tag: The image reference to create instead of ``repository/<slug>:<build digest>``.
        relock: Lock the copy; off, the project's own ``uv.lock`` is built as the user locked it
            (``dsdeploy deploy``), and no local interpreter is needed.
        dockerfile: Another Dockerfile to build the same context with (benchmarks).
        target: The Dockerfile stage to build (``notebook``); the service image when omitted.
        progress: Receives BuildKit's plain progress lines.
        engine: Build with ``docker`` (BuildKit) or ``podman``; the base is looked for in its store.

    Raises:
        ImagePrerequisiteMissing: No base image or interpreter for the project's Python here.
        GeneratorError: The build failed (the message carries BuildKit's output tail).
    """
    version = project_python_version(project)
    base = base_image or choose_base_image(version, engine=engine)
    if base is None:
        if engine == "podman":
            missing = f"in Podman's store: neither python:{version}-slim nor dsdeploy-base:{version}"
            copy_hint = f", then docker save dsdeploy-base:{version} | podman load"
        else:
            missing = f": python:{version}-slim cannot be pulled and dsdeploy-base:{version} is absent"
            copy_hint = ""
        raise ImagePrerequisiteMissing(
            f"no base image for Python {version}{missing}",
            hint=f"dsdeploy base-image {version} (or scripts/setup-docker.sh){copy_hint}",
        )
    copy = workdir / project.name
    # A user's checkout may hold a virtualenv and history; the build context (an allowlist in
    # .dockerignore) never sees them, so they are not copied either.
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", ".git"))
    if relock:
        lock(copy)
    tag = tag or image_tag(copy, repository)
    result = build_image(
        copy,
        tag,
        base,
        ca_bundle or system_ca_bundle(),
        progress,
        dockerfile=dockerfile,
        target=target,
        engine=engine,
    )
    return PreparedImage(copy, result)
