"""Fixtures for the docker tier: one image per distinct build, built once per session.

Which variants can differ in their image is decided at collection time from copier.yml's axes
(``IMAGE_AXIS_NAMES``); ``test_matrix_coverage.py`` fails if any variant of the full matrix
builds an image that none of these representatives covers.
Representatives that turn out identical (same build digest) share one build.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator._run import run
from generator.errors import GeneratorError
from generator.images import BuildResult, build_digest, build_image, choose_base_image, project_python_version
from generator.render import read_answers
from generator.tools import find_python, require
from generator.variants import Axis, load_axes

# Builds behind a TLS-inspecting proxy need the bundle that trusts it; elsewhere it is harmless.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Repository of every image the docker tier builds; stale ones are removed at session end.
TEST_REPOSITORY = "dsdeploy-test-image"


# Answers that change the Dockerfile or the runtime dependencies. with_kubeflow adds modules and
# a dev-only dependency group, so its images build like the others; license, registry and CI
# change labels and files outside the image. test_matrix_coverage.py keeps this list honest.
IMAGE_AXIS_NAMES = ("python_version", "with_dask")


def image_axes(axes: tuple[Axis, ...]) -> tuple[Axis, ...]:
    """The axes whose answers change the image (those of ``IMAGE_AXIS_NAMES`` that exist)."""
    return tuple(axis for axis in axes if axis.name in IMAGE_AXIS_NAMES)


def representative_answers() -> list[dict[str, str | bool]]:
    """Answers for every combination of the image axes (other answers keep their defaults)."""
    axes = image_axes(load_axes())
    return [
        dict(zip((a.name for a in axes), combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def representative_id(answers: dict[str, str | bool]) -> str:
    """Readable id such as ``py3.12`` or ``py3.12-dask``."""
    parts = []
    for name, value in answers.items():
        if name == "python_version":
            parts.append(f"py{value}")
        elif value is True:
            parts.append(name.removeprefix("with_"))
    return "-".join(parts)


REPRESENTATIVES = representative_answers()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that takes ``image_answers`` over the representatives."""
    if "image_answers" in metafunc.fixturenames:
        ids = [representative_id(answers) for answers in REPRESENTATIVES]
        metafunc.parametrize("image_answers", REPRESENTATIVES, ids=ids)


@pytest.fixture(scope="session")
def image_representatives() -> dict[str, dict[str, str | bool]]:
    """The representatives' answers by id."""
    return {representative_id(answers): answers for answers in REPRESENTATIVES}


@functools.cache
def base_for(python_version: str) -> str | None:
    """The base image for a Python version, asked once per session (a pull attempt can be slow)."""
    return choose_base_image(python_version)


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
    system = SYSTEM_CA_BUNDLE.read_bytes() if SYSTEM_CA_BUNDLE.is_file() else b""
    path.write_bytes(system + b"\n" + canary)
    return CaBundle(path, canary)


@dataclass(frozen=True)
class BuiltImage:
    """An image built by this session and the locked project copy it was built from.

    Tests may copy ``project`` but never change it: other tests reuse the image.
    """

    project: Path
    result: BuildResult

    @property
    def tag(self) -> str:
        """The image's tag."""
        return self.result.tag


BuildFn = Callable[[Path], BuiltImage]


def skip_without_base(python_version: str) -> str:
    """The base image for ``python_version``, or skip the test saying why there is none."""
    base = base_for(python_version)
    if base is None:
        pytest.skip(
            f"no base image for Python {python_version}: python:{python_version}-slim cannot be pulled "
            f"and dsdeploy-base:{python_version} is absent (run scripts/setup-docker.sh)"
        )
    return base


def lock(project: Path) -> None:
    """Write ``uv.lock`` with the project's own Python version, never downloading one.

    uv cannot download interpreters here and pyenv shims of non-global versions fail, so the
    interpreter is found (:func:`generator.tools.find_python`) and named explicitly.
    """
    version = project_python_version(project)
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here to lock the project with")
    command = [require("uv"), "lock", "--quiet", "--python", python]
    run(command, cwd=project, env={"UV_PYTHON_DOWNLOADS": "never"})


@pytest.fixture(scope="session")
def build(ca_bundle: CaBundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildFn]:
    """Build a rendered project's image once per build digest (skips when no base exists).

    The rendered project is copied and locked (``uv lock``) first; the copy is kept with the
    image so rebuild tests start from the very same lock file. Tags name the digest, so an
    unchanged template reuses the last session's image; at the end, test images of digests this
    session did not build (older template versions) are removed to keep the disk bounded.
    """
    cache: dict[str, BuiltImage] = {}

    def _build(project: Path) -> BuiltImage:
        key = build_digest(project)
        if key not in cache:
            answers = read_answers(project)
            base = skip_without_base(str(answers["python_version"]))
            workdir = tmp_path_factory.mktemp("image-project") / project.name
            shutil.copytree(project, workdir)
            lock(workdir)
            tag = f"{TEST_REPOSITORY}/{answers['project_slug']}:{key[:12]}"
            try:
                result = build_image(workdir, tag, base, ca_bundle.path)
            except GeneratorError as exc:
                pytest.fail(f"building {tag} failed: {exc}")
            cache[key] = BuiltImage(workdir, result)
        return cache[key]

    yield _build
    if cache:
        docker = require("docker")
        listed = run(
            [docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], check=False
        ).stdout.split()
        kept = {built.tag for built in cache.values()}
        stale = [tag for tag in listed if tag.startswith(f"{TEST_REPOSITORY}/") and tag not in kept]
        if stale:
            run([docker, "image", "rm", *stale], check=False)


@pytest.fixture(scope="session")
def default_image(build: BuildFn, default_project: Path) -> BuiltImage:
    """The image of the all-defaults project."""
    return build(default_project)


@pytest.fixture
def scratch_tag(default_image: BuiltImage) -> Iterator[Callable[[str], str]]:
    """Make one-off tags beside the default image's; they are removed after the test.

    Their layers stay in the build cache, so later builds still reuse them.
    """
    made: list[str] = []

    def _tag(suffix: str) -> str:
        made.append(f"{default_image.tag}-{suffix}")
        return made[-1]

    yield _tag
    for tag in made:
        run([require("docker"), "image", "rm", tag], check=False)


#: The version the rolling-update tests deploy over the default project's 0.1.0.
NEXT_VERSION = "0.2.0"


@pytest.fixture(scope="session")
def next_version_image(
    default_image: BuiltImage, ca_bundle: CaBundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltImage]:
    """The default project with its version bumped, as a user releases an update; built once.

    The service reports the package version as ``model_version``, so the two images' answers
    tell which one served them. Built here rather than through ``build``: the build digest
    leaves the version out (it changes metadata, not how the image builds), so ``build`` would
    hand back the default image.
    """
    project = tmp_path_factory.mktemp("next-version") / default_image.project.name
    shutil.copytree(default_image.project, project)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    current = next(line for line in text.splitlines() if line.startswith("version = "))
    pyproject.write_text(text.replace(current, f'version = "{NEXT_VERSION}"', 1), encoding="utf-8")
    lock(project)  # the lock file records the project's version too
    tag = f"{default_image.tag}-next"
    try:
        result = build_image(project, tag, default_image.result.base_image, ca_bundle.path)
    except GeneratorError as exc:
        pytest.fail(f"building {tag} failed: {exc}")
    yield BuiltImage(project, result)
    run([require("docker"), "image", "rm", tag], check=False)
