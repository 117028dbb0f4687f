"""Shared fixtures and tier gating for the whole suite.

Tiers are markers. Tests marked ``docker``, ``kind``, ``browser``, ``prometheus``, ``podman`` or
``apptainer`` skip, with a one-line reason, where the engine they need cannot run here; nothing
is deselected by default, so the README's test command runs everything this machine can run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from project_runs import MatrixRuns, PlannedRun, ProjectRuns, matrix_plan
from swaps import SWAPS, make_swapped

from generator.errors import GeneratorError
from generator.image.project_image import (
    ImagePrerequisiteMissing,
    PreparedImage,
    prepare_image,
    system_ca_bundle,
)
from generator.process import run
from generator.project.checks import ProjectRun
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


@functools.cache
def prometheus_unavailable_reason() -> str | None:
    """Why the monitoring tier cannot run here (no ``prometheus`` or ``promtool``), or None."""
    from generator.tools import install_hint, which

    absent = [name for name in ("prometheus", "promtool") if which(name) is None]
    return f"{' and '.join(absent)} not installed ({install_hint(absent[0])})" if absent else None


@functools.cache
def apptainer_unavailable_reason() -> str | None:
    """Why the apptainer tier cannot run here (not installed, or ``apptainer version`` fails), or None."""
    from generator.tools import install_hint, which

    apptainer = which("apptainer")
    if apptainer is None:
        return f"apptainer not installed ({install_hint('apptainer')})"
    # An install whose binary cannot start (e.g. built for a newer libc) is no tier to run.
    result = run([apptainer, "version"], check=False, timeout=60)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"apptainer cannot run here: {last}"
    return None


@functools.cache
def podman_unavailable_reason() -> str | None:
    """Why the podman tier cannot run here (no ``podman``, or ``podman info`` fails), or None."""
    from generator.tools import which

    podman = which("podman")
    if podman is None:
        return "podman not installed (apt-get install podman, or run scripts/setup-engines.sh)"
    info = run([podman, "info", "--format", "{{.Store.GraphDriverName}}"], check=False, timeout=60)
    if info.returncode != 0:
        return f"`podman info` fails: {(info.stderr.strip().splitlines() or ['no output'])[-1]}"
    return None


#: Each tier marker and why its engine cannot run here (None: it can). ``kind`` needs Docker too.
TIER_GATES: dict[str, tuple[Callable[[], str | None], ...]] = {
    "docker": (docker_unavailable_reason,),
    "kind": (docker_unavailable_reason, kind_unavailable_reason),
    "prometheus": (prometheus_unavailable_reason,),
    "apptainer": (apptainer_unavailable_reason,),
    "podman": (podman_unavailable_reason,),
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, gates in TIER_GATES.items():
        if item.get_closest_marker(marker):
            for gate in gates:
                reason = gate()
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
# Projects' own runs: queued together at the first reader, readers ordered last (tests/project_runs.py)
# ---------------------------------------------------------------------------------------------

#: The fixtures that read the matrix's runs, and the swaps'.
MATRIX_RUN_READERS = frozenset({"checked_project", "matrix_runs"})
SWAP_RUN_READERS = frozenset({"swap_run"})


def _reads(item: pytest.Item, readers: frozenset[str]) -> bool:
    return not readers.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Readers of project runs go last (stable otherwise): every run then starts at once."""
    items.sort(key=lambda item: _reads(item, MATRIX_RUN_READERS | SWAP_RUN_READERS))


@pytest.fixture(scope="session")
def project_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectRuns]:
    """The pool the projects' own runs go on."""
    runs = ProjectRuns(tmp_path_factory.mktemp("project-runs"))
    yield runs
    runs.close()


@pytest.fixture(scope="session")
def matrix_planned(matrix_projects: dict[str, Path]) -> tuple[dict[str, str], list[PlannedRun]]:
    """The matrix's distinct projects' runs, and each variant id's run key."""
    return matrix_plan(matrix_projects)


@pytest.fixture(scope="session", autouse=True)
def quick_runs_beside(request: pytest.FixtureRequest) -> None:
    """When the selected tests read the matrix's runs, its quick runs start with the session.

    They run one at a time, niced, on the core the session leaves idle (tests/project_runs.py);
    the matrix is then rendered at the first test instead of at the first that needs it.
    """
    if any(_reads(item, MATRIX_RUN_READERS) for item in request.session.items):
        planned = request.getfixturevalue("matrix_planned")[1]
        request.getfixturevalue("project_runs").start_beside(planned)


@pytest.fixture(scope="session")
def swapped(render: RenderFn, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``swapped(id)``: the project of swap ``id`` (tests/swaps.py), rendered and edited once."""
    made: dict[str, Path] = {}

    def _swapped(swap_id: str) -> Path:
        if swap_id not in made:
            made[swap_id] = make_swapped(render, tmp_path_factory.mktemp(f"swap-{swap_id}"), swap_id)
        return made[swap_id]

    return _swapped


@pytest.fixture(scope="session")
def queued_runs(request: pytest.FixtureRequest, project_runs: ProjectRuns) -> ProjectRuns:
    """At the first test that reads a run, every run the selected tests read, queued together.

    The matrix's and the swaps' runs share the pool, so neither waits for the other; a -k or -m
    selection without a reader of one kind starts none of that kind.
    """
    items = request.session.items
    planned: list[PlannedRun] = []
    if any(_reads(item, SWAP_RUN_READERS) for item in items):
        swapped = request.getfixturevalue("swapped")
        planned += [PlannedRun(f"swap-{swap_id}", swapped(swap_id)) for swap_id in SWAPS]
    if any(_reads(item, MATRIX_RUN_READERS) for item in items):
        planned += request.getfixturevalue("matrix_planned")[1]
    project_runs.start(planned)
    return project_runs


@pytest.fixture(scope="session")
def matrix_runs(
    queued_runs: ProjectRuns, matrix_planned: tuple[dict[str, str], list[PlannedRun]]
) -> MatrixRuns:
    """The distinct matrix projects' own lint and test runs."""
    return MatrixRuns(queued_runs, matrix_planned[0])


@pytest.fixture(scope="session")
def swap_runs(queued_runs: ProjectRuns) -> Callable[[str], ProjectRun | None]:
    """``swap_runs(id)``: swap ``id``'s project's own whole run."""
    return lambda swap_id: queued_runs.result(f"swap-{swap_id}")


@pytest.fixture
def swap_run(swap_runs: Callable[[str], ProjectRun | None], swap_id: str) -> ProjectRun:
    """The run of the test's swap; skips without an interpreter of its Python."""
    outcome = swap_runs(swap_id)
    if outcome is None:
        pytest.skip(f"no Python interpreter here for swap {swap_id}'s python_version (pyenv or PATH)")
    return outcome


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


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], seconds: float = 180, log: Path | None = None
) -> None:
    """Wait for 200 from readiness; a loaded CI machine imports numpy and scikit-learn slowly.

    A failure names the exit code or the deadline, and ends with the tail of ``log`` if given.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5):
                return
        except OSError:
            tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""
            if process.poll() is not None:
                pytest.fail(f"the service at {url} exited during start-up (code {process.returncode}){tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"the service at {url} was not ready within {seconds:g} s{tail}")
            time.sleep(0.5)


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a TCP port on 127.0.0.1 that is free when asked."""
    return _free_port


@pytest.fixture(scope="session")
def wait_ready() -> Callable[..., None]:
    """``wait_ready(url, process, seconds=180, log=None)``: until ``url``'s readiness answers 200."""
    return _wait_ready


# ---------------------------------------------------------------------------------------------
# The browser tier (tests marked ``browser``): headless Chromium, Debian's ``chromium``, driven
# by Playwright. Playwright's own browser downloads are not used (they need a host this tier
# must not depend on): it launches the system Chromium by path. Every request a page makes to a
# host other than the service's is refused and recorded, so a test can assert that a page needs
# no network. Screenshots go to ``.work/artefacts/browser/`` and are listed at the end of the run.
# ---------------------------------------------------------------------------------------------

BROWSER_ARTEFACTS = Path(__file__).resolve().parents[1] / ".work" / "artefacts" / "browser"
# Headless, as root in a container, and quiet: without the background-networking flags Chromium
# calls Google's hosts at start-up (component updates, sync), which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_SHOTS: list[Path] = []


def chromium_unavailable_reason() -> str | None:
    """Why the browser tier cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "no chromium on PATH (scripts/setup-engines.sh installs Debian's chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; skips with the reason when it cannot start."""
    reason = chromium_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class OfflinePage:
    """A browser page whose requests to other hosts are refused and recorded.

    Attributes:
        page: The Playwright page.
        refused: URLs the page tried to fetch from a host other than the service's.
        errors: Uncaught JavaScript errors on the page.
    """

    page: Any
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open_model_page(self, url: str) -> dict[str, Any]:
        """Open a service's model page; returns what the service put in it (metadata, metrics)."""
        self.page.goto(f"{url}/")
        self.page.wait_for_selector("body[data-ready=true]")
        data: dict[str, Any] = self.page.evaluate(
            "JSON.parse(document.getElementById('model-data').textContent)"
        )
        return data

    def submit(self) -> None:
        """Submit the model page's form; wait until it shows the new answer or an error.

        The page hides the last answer before it sends, so what is visible afterwards is new.
        """
        with self.page.expect_response(lambda response: response.url.endswith("/infer")):
            self.page.click("#predict")
        self.page.wait_for_selector("#answer:not([hidden]), .error:not([hidden])")

    def labels(self) -> list[Any]:
        """The answers the model page shows, one per row, as the service sent them."""
        cells = self.page.locator("td.label")
        return [json.loads(cells.nth(i).get_attribute("data-label")) for i in range(cells.count())]

    def sent_again(self, url: str) -> tuple[int, Any]:
        """The request the page last sent (its v2 JSON), sent again straight to the service."""
        body = json.loads(self.page.inner_text("#request-json"))
        response = self.page.request.post(url, data=body)
        return response.status, response.json()

    def screenshot(self, name: str) -> Path:
        """Write a full-page screenshot to the artefacts folder; returns its path."""
        BROWSER_ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = BROWSER_ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        _SHOTS.append(path)
        return path


@pytest.fixture
def offline_page(browser: Any) -> Iterator[OfflinePage]:
    """A fresh page (own context: no cache or cookies shared) with every non-local request refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    offline = OfflinePage(page)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            request_route.continue_()
        else:
            offline.refused.append(url)
            request_route.abort()

    context.route("**/*", route)
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    yield offline
    context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots written in this run, so a reader of the log can open them."""
    if _SHOTS:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in _SHOTS:
            terminalreporter.write_line(str(path))
