"""The default project, rendered, locked and ready for `make build`: what image benchmarks start from."""

from __future__ import annotations

import sys
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
