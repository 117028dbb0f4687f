"""Shared fixtures and tier gating for the whole suite.

Tiers are markers. Tests marked ``docker`` or ``kind`` skip, with a one-line reason, where the
engine they need cannot run here; nothing is deselected by default, so the README's test command
runs everything this machine can run.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.render import render_many, render_project, snapshot_template
from generator.variants import Variant, variants

RenderFn = Callable[..., Path]

# The full matrix, read from copier.yml once at collection.
MATRIX: list[Variant] = variants("full")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that takes ``variant`` over the full matrix, with readable ids."""
    if "variant" in metafunc.fixturenames:
        metafunc.parametrize("variant", MATRIX, ids=[v.id for v in MATRIX])


@functools.cache
def docker_unavailable_reason() -> str | None:
    """Why Docker tests cannot run here, or None when an engine answers (asked once)."""
    from generator.doctor import docker_unavailable_reason as reason

    return reason()


@functools.cache
def kind_unavailable_reason() -> str | None:
    """Why kind tests cannot run here, or None when kind can create a cluster."""
    from generator.cluster import kind_unavailable_reason as reason

    return reason()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") or item.get_closest_marker("kind"):
        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
    if item.get_closest_marker("kind"):
        reason = kind_unavailable_reason()
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def template_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain copy of the template taken once per session; every render reads it."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory, template_snapshot: Path) -> RenderFn:
    """Render a project once per distinct set of answers per session.

    Call ``render(answers)`` (a mapping of non-default answers, or nothing for defaults); the
    same answers return the same folder. Treat the folder as read-only: copy it before changing it.
    """
    cache: dict[str, Path] = {}

    def _render(answers: Mapping[str, Any] | None = None) -> Path:
        key = json.dumps(dict(answers or {}), sort_keys=True)
        if key not in cache:
            dest = tmp_path_factory.mktemp("project") / "project"
            cache[key] = render_project(dest, answers, template=template_snapshot)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def default_project(render: RenderFn) -> Path:
    """The project rendered with every default answer."""
    return render()


@pytest.fixture(scope="session")
def matrix_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant of the full matrix, rendered once per session (two processes), by id.

    Read-only: copy a project before changing it.
    """
    outdir = tmp_path_factory.mktemp("matrix")
    rendered = render_many(outdir, {v.id: v.as_dict() for v in MATRIX}, jobs=2)
    return {r.variant_id: r.path for r in rendered}
