"""The publish workflows build linux/arm64 too: every package the image installs must have a
wheel for it in each project's lock (or be a plain source distribution), or that build would
compile, or fail, under QEMU."""

from __future__ import annotations

import tomllib

from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_wheel_filename

from generator.process import run
from generator.project.render import read_answers
from generator.tools import require


def _installs_on_linux_arm64(wheel: str, python: str) -> bool:
    """Whether the wheel file ``wheel`` installs on CPython ``python`` (e.g. "3.12") on aarch64."""
    minor = int(python.split(".")[1])
    for tag in parse_wheel_filename(wheel)[3]:
        platform_ok = tag.platform == "any" or (
            tag.platform.endswith("_aarch64") and tag.platform.startswith(("manylinux", "linux"))
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


def _pins_on_linux_arm64(exported: str, python: str) -> set[tuple[str, str]]:
    """The (name, version) pins of ``uv export`` whose markers hold on CPython ``python`` on aarch64.

    A universal lock may pin a package twice (numpy for Python 3.11, a newer numpy from 3.12).
    """
    environment = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": "aarch64",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    pins = set()
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if "==" not in requirement or requirement.lstrip().startswith("#"):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, version = (part.strip() for part in requirement.split("==", 1))
        pins.add((canonicalize_name(name), version))
    return pins


def test_every_package_the_image_installs_has_a_linux_arm64_wheel(matrix_runs):
    missing: dict[str, list[str]] = {}
    for project in matrix_runs.environments():
        python = str(read_answers(project)["python_version"])
        # What the image's `uv sync --no-dev` installs, as the lock pins it.
        exported = run(
            [require("uv"), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
            cwd=project,
            env={"VIRTUAL_ENV": None},
        ).stdout
        runtime = _pins_on_linux_arm64(exported, python)
        assert {"fastapi", "numpy", "scikit-learn"} <= {name for name, _ in runtime}, exported
        lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
        for package in lock["package"]:
            wheels = [wheel["url"].rsplit("/", 1)[1] for wheel in package.get("wheels", [])]
            if (
                (package["name"], package.get("version")) in runtime
                and wheels
                and not any(_installs_on_linux_arm64(w, python) for w in wheels)
            ):
                missing.setdefault(f"{package['name']}=={package['version']}", []).append(project.name)
    assert not missing, f"no linux/arm64 wheel for {missing} (package: projects)"
