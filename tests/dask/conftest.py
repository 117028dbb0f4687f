"""Fixtures for the Dask tier: Dask projects, one image built per session, the run's figures.

The figures of the container-cluster run (rows, partitions, workers, wall time) are printed in
the terminal summary, so CI logs carry them without ``-s``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator._run import run
from generator.errors import GeneratorError
from generator.images import BuildResult, build_digest, build_image, choose_base_image
from generator.render import read_answers
from generator.tools import find_python, require
from generator.variants import load_axes

RenderFn = Callable[..., Path]
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_FIGURES: list[str] = []


def python_versions() -> list[str]:
    """The project's Python versions, the default first (the one a user gets)."""
    axis = next(axis for axis in load_axes() if axis.name == "python_version")
    return [str(axis.default)] + [str(value) for value in axis.values if value != axis.default]


@pytest.fixture(scope="session")
def dask_project(render: RenderFn) -> Path:
    """The default project with Dask on (default Python version)."""
    return render({"with_dask": True})


@pytest.fixture(scope="session")
def record_figure() -> Callable[[str], None]:
    """``record_figure(line)``: a line for the terminal summary (figures for the issue note)."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures recorded by Dask tests."""
    if _FIGURES:
        terminalreporter.section("dask figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def dask_image(render: RenderFn, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    """A Dask project's image, built once per session, and the locked project it came from.

    The first Python version (default first) that has a base image here is used: the official
    ``python:3.X-slim`` where it can be pulled, else the local ``dsdeploy-base:3.X``.
    """
    base, version = None, None
    for candidate in python_versions():
        base = choose_base_image(candidate)
        if base is not None:
            version = candidate
            break
    if base is None or version is None:
        pytest.skip(
            "no base image for any Python version: python:3.X-slim cannot be pulled and no "
            "dsdeploy-base:3.X exists (run scripts/setup-docker.sh)"
        )
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here to lock the project with")
    project = tmp_path_factory.mktemp("dask-image") / "project"
    shutil.copytree(render({"with_dask": True, "python_version": version}), project)
    run(
        [require("uv"), "lock", "--quiet", "--python", python],
        cwd=project,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )
    tag = f"dsdeploy-test/{project.name}:{build_digest(project)[:12]}"
    ca_bundle = SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None
    try:
        result = build_image(project, tag, base, ca_bundle)
    except GeneratorError as exc:
        pytest.fail(f"building {tag} failed: {exc}")
    return project, result


@pytest.fixture(scope="session")
def dask_package(dask_image: tuple[Path, BuildResult]) -> str:
    """The Python package of the image's project."""
    return str(read_answers(dask_image[0])["package_name"])
