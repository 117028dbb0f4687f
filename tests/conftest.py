"""Shared fixtures and tier gating for the whole suite.

Tiers are markers. Tests marked ``docker`` or ``kind`` skip, with a one-line reason, where the
engine they need cannot run here; nothing is deselected by default, so the README's test command
runs everything this machine can run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.errors import GeneratorError
from generator.image.project_image import (
    ImagePrerequisiteMissing,
    PreparedImage,
    prepare_image,
    system_ca_bundle,
)
from generator.process import run
from generator.project.digests import build_digest
from generator.project.render import read_answers, render_project
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.source import snapshot_template
from generator.project.tree import PieceStore, Tree, write_tree
from generator.project.variants import Variant, variants
from generator.tools import find_python, require

RenderFn = Callable[..., Path]

# The full matrix, read from copier.yml once at collection.
MATRIX: list[Variant] = variants("full")


# The equivalence test's random sample is drawn from this seed; pytest's header prints it, and
# setting it replays a run's sample.
SEED_VARIABLE = "DSDEPLOY_EQUIVALENCE_SEED"


def pytest_configure(config: pytest.Config) -> None:
    """Draw this run's equivalence seed once (workers started later inherit it)."""
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


@functools.cache
def docker_unavailable_reason() -> str | None:
    """Why Docker tests cannot run here, or None when an engine answers (asked once)."""
    from generator.doctor import docker_unavailable_reason as reason

    return reason()


@functools.cache
def kind_unavailable_reason() -> str | None:
    """Why kind tests cannot run here, or None when kind can create a cluster."""
    from generator.cluster.kind import kind_unavailable_reason as reason

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


@dataclass(frozen=True)
class MatrixRender:
    """Every variant's tree, rendered by dependency, and the distinct file contents they share."""

    trees: dict[str, Tree]
    store: PieceStore
    renders: int
    seconds: float


@pytest.fixture(scope="session")
def matrix_render(template_snapshot: Path) -> MatrixRender:
    """The full matrix rendered by dependency once per session (each template file once per
    distinct answers it reads; tests/render/test_equivalence.py proves it equals copier's render).
    """
    start = time.perf_counter()
    with DependencyRenderer(template_snapshot) as renderer:
        trees = {v.id: renderer.render(v.as_dict(), folder_name=v.id) for v in MATRIX}
        store, renders = renderer.store, renderer.renders
    return MatrixRender(trees, store, renders, time.perf_counter() - start)


@pytest.fixture(scope="session")
def matrix_projects(tmp_path_factory: pytest.TempPathFactory, matrix_render: MatrixRender) -> dict[str, Path]:
    """Every variant of the full matrix on disk, by id: its files hard-linked to shared pieces.

    Read-only: copy a project before changing it (``shutil.copytree`` copies, it does not link).
    """
    outdir = tmp_path_factory.mktemp("matrix")
    pieces = tmp_path_factory.mktemp("pieces")
    return {
        vid: write_tree(tree, matrix_render.store, outdir / vid, link_dir=pieces)
        for vid, tree in matrix_render.trees.items()
    }


# ---------------------------------------------------------------------------------------------
# Images: one build per distinct build digest per session, shared by every tier
# ---------------------------------------------------------------------------------------------

#: Repository of every image the suite builds; stale ones are removed at session end.
TEST_REPOSITORY = "dsdeploy-test-image"


@dataclass(frozen=True)
class CaBundle:
    """The CA bundle handed to test builds, with a canary line unique to this session.

    PEM readers skip text outside certificate blocks, so the canary changes nothing for TLS,
    but any copy of the bundle that reached a layer carries it.
    """

    path: Path
    canary: bytes


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> CaBundle:
    """The system CA bundle plus a canary: builds behind a TLS-inspecting proxy need the former."""
    canary = f"# dsdeploy-canary-{uuid.uuid4().hex}\n".encode()
    path = tmp_path_factory.mktemp("ca") / "ca-bundle.pem"
    system = system_ca_bundle()
    path.write_bytes((system.read_bytes() if system else b"") + b"\n" + canary)
    return CaBundle(path, canary)


ImageFn = Callable[[Path], PreparedImage]


@pytest.fixture(scope="session")
def image_of(ca_bundle: CaBundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageFn]:
    """``image_of(project)``: the project's image, built once per build digest per session.

    The project is copied and locked first (:func:`generator.image.project_image.prepare_image`); the
    copy is kept with the image, so tests that rebuild start from the very same lock file. A
    machine without a base image or interpreter for the project's Python skips, naming it.
    """
    cache: dict[str, PreparedImage] = {}

    def _image_of(project: Path) -> PreparedImage:
        key = build_digest(project)
        if key not in cache:
            workdir = tmp_path_factory.mktemp("image-project")
            try:
                cache[key] = prepare_image(
                    project, workdir, ca_bundle=ca_bundle.path, repository=TEST_REPOSITORY
                )
            except ImagePrerequisiteMissing as exc:
                pytest.skip(exc.message)
            except GeneratorError as exc:
                pytest.fail(f"building the image of {project} failed: {exc}")
        return cache[key]

    yield _image_of
    if cache:
        docker = require("docker")
        listed = run(
            [docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], check=False
        ).stdout.split()
        kept = {image.tag for image in cache.values()}
        stale = [tag for tag in listed if tag.startswith(f"{TEST_REPOSITORY}/") and tag not in kept]
        if stale:
            run([docker, "image", "rm", *stale], check=False)


# ---------------------------------------------------------------------------------------------
# A project's own service, served from its own environment (python -m <package>.serve)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalService:
    """A rendered project's service running on 127.0.0.1, from a synced and trained copy.

    Attributes:
        project: The copy (with ``.venv`` and ``artifacts/``); treat as read-only.
        url: The base URL, e.g. ``http://127.0.0.1:PORT``.
        model_name: The name in its v2 routes (the project slug).
    """

    project: Path
    url: str
    model_name: str

    @property
    def python(self) -> Path:
        """The interpreter of the project's own environment."""
        return self.project / ".venv" / "bin" / "python"


ServeFn = Callable[[Path], LocalService]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFn]:
    """``local_service(project)``: the project's service, started once per session and project.

    The copy is synced with uv (a local interpreter, downloads off) and trained as a user would
    (``python -m <package>.train``); the server runs in a process group of its own, stopped at
    the end of the session. Skips when no interpreter of the project's Python is here.
    """
    started: dict[Path, tuple[LocalService, subprocess.Popen[bytes]]] = {}

    def _serve(project: Path) -> LocalService:
        if project not in started:
            answers = read_answers(project)
            python = find_python(str(answers["python_version"]))
            if python is None:
                pytest.skip(f"no Python {answers['python_version']} interpreter here (pyenv or PATH)")
            copy = tmp_path_factory.mktemp("served") / project.name
            shutil.copytree(project, copy)
            env = {"VIRTUAL_ENV": None, "UV_PYTHON_DOWNLOADS": "never"}
            run([require("uv"), "sync", "--quiet", "--python", python], cwd=copy, env=env, timeout=900)
            package = str(answers["package_name"])
            venv_python = copy / ".venv" / "bin" / "python"
            run([venv_python, "-m", f"{package}.train", "--output", "artifacts"], cwd=copy, timeout=600)
            port = _free_port()
            server_env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1"}
            server_env["MODEL_PATH"] = str(copy / "artifacts" / "model.joblib")
            process = subprocess.Popen(
                [venv_python, "-m", f"{package}.serve"],
                cwd=copy,
                env=server_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            service = LocalService(copy, f"http://127.0.0.1:{port}", str(answers["project_slug"]))
            started[project] = (service, process)
            _wait_ready(service.url, process)
        return started[project][0]

    yield _serve
    for _, process in started.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    """Wait for 200 from readiness; a loaded CI machine imports numpy and scikit-learn slowly."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5):
                return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the service at {url} exited during start-up (code {process.returncode})")
            if time.monotonic() > deadline:
                pytest.fail(f"the service at {url} was not ready within {seconds:g} s")
            time.sleep(0.5)
