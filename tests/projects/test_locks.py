"""Every one of the 36 projects locks, installs from wheels on both image platforms, and pins
nothing the fast cover does not install and test.

``pyproject.toml`` is the one file that differs in every project (its dependencies follow all
four project axes), so the fast cover's runs cannot see every dependency set: these tests lock
all 36 (uv's resolution proves each set is consistent) and show that every pinned version is one
the fast cover's projects install and test on the same Python. The publish workflows build
linux/amd64 and linux/arm64: every package the image installs must have a wheel for both (or be
a plain source distribution), or that build would compile, or fail, under QEMU.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_wheel_filename
from support.projects import ALL_PROJECTS, FAST_COVER, python_of

from generator.process import run
from generator.project.variants import Variant
from generator.tools import require

#: The image platforms: uname's machine and the wheel platform tag's suffix.
PLATFORMS = ("x86_64", "aarch64")
UV_ENV: dict[str, str | None] = {"VIRTUAL_ENV": None, "UV_PYTHON_DOWNLOADS": "never"}

pytestmark = pytest.mark.xdist_group("project-locks")

Pin = tuple[str, str]


def installs_on(wheel: str, python: str, machine: str) -> bool:
    """Whether the wheel file ``wheel`` installs on CPython ``python`` (e.g. "3.12") on Linux ``machine``."""
    minor = int(python.split(".")[1])
    for tag in parse_wheel_filename(wheel)[3]:
        platform_ok = tag.platform == "any" or (
            tag.platform.endswith(f"_{machine}") and tag.platform.startswith(("manylinux", "linux"))
        )
        cpython = tag.interpreter.startswith("cp3") and tag.interpreter[3:].isdigit()
        built_for = int(tag.interpreter[3:]) if cpython else None
        python_ok = (
            tag.interpreter == "py3"
            or built_for == minor
            or (tag.abi == "abi3" and built_for is not None and built_for <= minor)
        )
        if platform_ok and python_ok:
            return True
    return False


def pins(exported: str, python: str, machine: str) -> set[Pin]:
    """The (name, version) pins of ``uv export`` whose markers hold on CPython ``python`` on ``machine``.

    A universal lock may pin a package twice (numpy for Python 3.11, a newer numpy from 3.12).
    """
    environment = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": machine,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    found = set()
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if "==" not in requirement or requirement.lstrip().startswith("#"):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, version = (part.strip() for part in requirement.split("==", 1))
        found.add((canonicalize_name(name), version))
    return found


LockFn = Callable[[Variant], Path]


@pytest.fixture(scope="session")
def locked(render: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> LockFn:
    """``locked(variant)``: a copy of the variant's project with ``uv.lock``, made once per session."""
    made: dict[str, Path] = {}

    def _locked(variant: Variant) -> Path:
        if variant.id not in made:
            python = python_of(str(variant.as_dict()["python_version"]))
            copy = tmp_path_factory.mktemp(f"lock-{variant.id}") / "project"
            shutil.copytree(render(variant.as_dict()), copy)
            run([require("uv"), "lock", "--quiet", "--python", python], cwd=copy, env=UV_ENV, timeout=600)
            made[variant.id] = copy
        return made[variant.id]

    return _locked


def export(project: Path, *, dev: bool) -> str:
    """``uv export`` of the project's lock: what ``uv sync`` installs (``--no-dev``: the image)."""
    flags = [] if dev else ["--no-dev"]
    command = [require("uv"), "export", "--frozen", *flags, "--no-emit-project", "--no-hashes"]
    return run(command, cwd=project, env=UV_ENV).stdout


def test_every_package_the_image_installs_has_a_wheel_for_both_platforms(project_variant, locked):
    project = locked(project_variant)
    python = str(project_variant.as_dict()["python_version"])
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    exported = export(project, dev=False)
    missing = []
    for machine in PLATFORMS:
        runtime = pins(exported, python, machine)
        assert {"fastapi", "numpy", "scikit-learn"} <= {name for name, _ in runtime}, exported
        for package in lock["package"]:
            wheels = [wheel["url"].rsplit("/", 1)[1] for wheel in package.get("wheels", [])]
            if (
                (package["name"], package.get("version")) in runtime
                and wheels
                and not any(installs_on(wheel, python, machine) for wheel in wheels)
            ):
                missing.append(f"{package['name']}=={package['version']} ({machine})")
    assert not missing, f"no wheel for {missing}"


def test_every_version_any_project_pins_is_tested_in_the_fast_cover(locked):
    # What the fast cover's projects install (dev dependencies included: their tests run), by
    # Python; then every pin of every project on that Python must be among them.
    tested: dict[str, set[Pin]] = {}
    for variant in FAST_COVER:
        python = str(variant.as_dict()["python_version"])
        tested.setdefault(python, set()).update(pins(export(locked(variant), dev=True), python, "x86_64"))
    untested = {}
    for variant in ALL_PROJECTS:
        python = str(variant.as_dict()["python_version"])
        extra = pins(export(locked(variant), dev=True), python, "x86_64") - tested[python]
        if extra:
            untested[variant.id] = sorted(f"{name}=={version}" for name, version in extra)
    assert not untested, f"pinned but installed by no project of the fast cover: {untested}"
