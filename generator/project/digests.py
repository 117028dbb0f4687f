"""Digests that decide when a project's image must be rebuilt: its dependencies, then all of it.

Variants with the same digest build the same image, so tests, deploys and benchmarks build (and
tag) one image per digest.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from generator.project.fingerprint import tree_digest
from generator.project.variants import Axis

# Build args that only set OCI labels: they never change how the image builds or runs.
LABEL_ARGS = ("IMAGE_TITLE", "IMAGE_DESCRIPTION", "IMAGE_LICENSES", "IMAGE_VERSION", "IMAGE_SOURCE")

# The parts of pyproject.toml that change what gets installed.
_INSTALL_KEYS = ("requires-python", "dependencies", "optional-dependencies")

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
