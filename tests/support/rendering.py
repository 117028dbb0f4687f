"""Rendered projects: one render per distinct answers, and the whole matrix rendered by dependency.

``render(answers)`` renders with copier once per distinct answers per session; ``matrix_render``
renders every variant of copier.yml by dependency (each template file once per distinct answers
it reads: tests/render/test_equivalence.py proves the result equals copier's), and
``matrix_projects`` writes those trees to disk. Every test that takes ``variant`` runs once per
variant of the full matrix, with readable ids.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.project.render import render_project
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.source import snapshot_template
from generator.project.tree import PieceStore, Tree, write_tree
from generator.project.variants import Variant, variants

RenderFn = Callable[..., Path]

#: The full matrix, read from copier.yml once at collection.
MATRIX: list[Variant] = variants("full")

#: The equivalence test's random sample is drawn from this seed; pytest's header prints it, and
#: setting it replays a run's sample.
SEED_VARIABLE = "DSDEPLOY_EQUIVALENCE_SEED"


def pytest_configure(config: pytest.Config) -> None:
    """Draw this run's equivalence seed once (xdist workers, started later, inherit it)."""
    os.environ.setdefault(SEED_VARIABLE, str(secrets.randbelow(2**32)))


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"equivalence sample: {SEED_VARIABLE}={os.environ[SEED_VARIABLE]} "
        f"(set it to replay the sample of tests/render/test_equivalence.py)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that takes ``variant`` over the full matrix, with readable ids."""
    if "variant" in metafunc.fixturenames:
        metafunc.parametrize("variant", MATRIX, ids=[v.id for v in MATRIX])


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


@dataclass(frozen=True)
class MatrixRender:
    """Every variant's tree, rendered by dependency, and the distinct file contents they share."""

    trees: dict[str, Tree]
    store: PieceStore
    renders: int
    seconds: float


@pytest.fixture(scope="session")
def matrix_render(template_snapshot: Path) -> MatrixRender:
    """The full matrix rendered by dependency once per session."""
    start = time.perf_counter()
    with DependencyRenderer(template_snapshot) as renderer:
        trees = {v.id: renderer.render(v.as_dict(), folder_name=v.id) for v in MATRIX}
        store, renders = renderer.store, renderer.renders
    return MatrixRender(trees, store, renders, time.perf_counter() - start)


class MatrixProjects(Mapping[str, Path]):
    """Every variant's project on disk, by id, written when first asked for.

    Files are hard-linked to shared pieces: read-only, copy a project before changing it
    (``shutil.copytree`` copies, it does not link). Tests that compare variants group them by
    ``matrix_render.trees[id].part_digest(parts)`` first and ask for one project per group, so
    a run writes the few projects it reads rather than every variant.
    """

    def __init__(self, matrix: MatrixRender, outdir: Path, pieces: Path) -> None:
        self._matrix = matrix
        self._outdir = outdir
        self._pieces = pieces
        self._written: dict[str, Path] = {}
        self._lock = threading.Lock()

    def __getitem__(self, variant_id: str) -> Path:
        with self._lock:  # fixtures ask from thread pools: write each project once, whole
            if variant_id not in self._written:
                tree = self._matrix.trees[variant_id]
                dest = self._outdir / variant_id
                self._written[variant_id] = write_tree(tree, self._matrix.store, dest, link_dir=self._pieces)
            return self._written[variant_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._matrix.trees)

    def __len__(self) -> int:
        return len(self._matrix.trees)


@pytest.fixture(scope="session")
def matrix_projects(tmp_path_factory: pytest.TempPathFactory, matrix_render: MatrixRender) -> MatrixProjects:
    """Every variant of the full matrix on disk, by id (written on first use: :class:`MatrixProjects`)."""
    return MatrixProjects(matrix_render, tmp_path_factory.mktemp("matrix"), tmp_path_factory.mktemp("pieces"))
