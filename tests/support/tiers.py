"""Tier gating: a test marked with an engine's tier skips, with a one-line reason, where that
engine cannot run here. Nothing is deselected by default, so the README's test command runs
every tier this machine can run. Each reason is asked once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from generator.process import run


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
    """Why the apptainer tier cannot run here, or None (asked once).

    This host's own apptainer when it starts; otherwise Debian's in the trixie container
    (``generator.image.apptainer_image``), built on first use once per machine. The tier skips
    only where neither runs: no Docker, an image that cannot be built, or a container Docker
    refuses to start with the options apptainer needs.
    """
    from generator.errors import GeneratorError
    from generator.image import apptainer_image

    if apptainer_image.native_apptainer() is not None:
        return None
    if reason := docker_unavailable_reason():
        return f"no apptainer here, and Docker cannot run its container: {reason}"
    try:
        tag = apptainer_image.ensure_apptainer_image()
    except GeneratorError as error:
        return f"no apptainer here, and its trixie image cannot be built: {str(error).splitlines()[0]}"
    return apptainer_image.container_unavailable_reason(tag)


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
