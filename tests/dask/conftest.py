"""Fixtures for the Dask tier: Dask projects, one image built per session, the run's figures.

The figures of the container-cluster run (rows, partitions, workers, wall time) are printed in
the terminal summary, so CI logs carry them without ``-s``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.image.build import BuildResult, choose_base_image
from generator.image.project_image import PreparedImage
from generator.project.render import read_answers
from generator.project.variants import load_axes
from generator.tools import find_python

RenderFn = Callable[..., Path]
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
def dask_image(render: RenderFn, image_of: Callable[[Path], PreparedImage]) -> tuple[Path, BuildResult]:
    """A Dask project's image, built once per session, and the locked project it came from.

    The first Python version (default first) that has a base image here is used: the official
    ``python:3.X-slim`` where it can be pulled, else the local ``dsdeploy-base:3.X``.
    """
    version = next((v for v in python_versions() if choose_base_image(v) and find_python(v)), None)
    if version is None:
        pytest.skip(
            "no Python version has a base image and an interpreter here: python:3.X-slim cannot be "
            "pulled and no dsdeploy-base:3.X exists (run scripts/setup-docker.sh)"
        )
    image = image_of(render({"with_dask": True, "python_version": version}))
    return image.project, image.result


@pytest.fixture(scope="session")
def dask_package(dask_image: tuple[Path, BuildResult]) -> str:
    """The Python package of the image's project."""
    return str(read_answers(dask_image[0])["package_name"])
