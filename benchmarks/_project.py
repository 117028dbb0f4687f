"""The default project, rendered, locked and ready for `make build`: what image benchmarks start from."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from generator.image.build import choose_base_image
from generator.image.project_image import ImagePrerequisiteMissing, lock, system_ca_bundle
from generator.project.render import read_answers, render_project
from generator.project.variants import default_variant


def buildable_default_project(folder: Path) -> tuple[Path, tuple[str, ...]]:
    """Render and lock the default project in ``folder``; return it and the make variables its builds need.

    The variables are the local base image (no registry pull here) and, behind a TLS-inspecting
    proxy, the CA bundle (a BuildKit secret, never a layer). Exits with the reason when either
    cannot be had.
    """
    project = render_project(folder, default_variant().as_dict())
    version = str(read_answers(project)["python_version"])
    try:
        lock(project)
    except ImagePrerequisiteMissing as exc:
        sys.exit(str(exc))
    base = choose_base_image(version)
    if base is None:
        sys.exit(f"no base image for Python {version}: run scripts/setup-docker.sh")
    ca = system_ca_bundle()
    return project, (f"BASE_IMAGE={base}", *((f"CA_BUNDLE={ca}",) if ca else ()))


def timed_make(project: Path, *args: str, env: Mapping[str, str] = {}, unset: tuple[str, ...] = ()) -> float:
    """Seconds ``make ARGS VERSION=0.1.0`` takes in ``project``; exits with its output when it fails.

    Runs in this environment minus VIRTUAL_ENV and ``unset``, plus ``env``, with this Python's
    folder first on PATH (uv and dsdeploy's tools).
    """
    dropped = ("VIRTUAL_ENV", *unset)
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment["PATH"]])
    environment |= env
    started = time.monotonic()
    done = subprocess.run(
        ["make", *args, "VERSION=0.1.0"], cwd=project, env=environment, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"make {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started
