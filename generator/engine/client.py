"""Which container engine, and a Docker SDK client on it: Docker's own, or Podman's Docker API.

Builds call each engine's own CLI (``docker buildx build`` or ``podman build``: both take the
Dockerfile's cache and secret mounts). Container checks use the Docker SDK for both: Podman
serves a Docker-compatible API (``podman system service``), so the smoke talks to a service
of its own on a private socket for as long as it runs, and the same code checks either engine.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

import docker
import docker.errors

from generator.errors import GeneratorError
from generator.process import stop
from generator.tools import require

Engine = Literal["docker", "podman"]
ENGINES: tuple[Engine, ...] = get_args(Engine)

# Seconds for `podman system service` to open its socket (about 0.3 s here).
SERVICE_TIMEOUT = 20.0


def check_engine(engine: str) -> Engine:
    """``engine`` as an :data:`Engine`, or an error naming the choices.

    Raises:
        GeneratorError: Neither docker nor podman.
    """
    for choice in ENGINES:
        if engine == choice:
            return choice
    raise GeneratorError(
        f"unknown container engine {engine!r}", hint="use --engine docker or --engine podman"
    )


def docker_client() -> docker.DockerClient:
    """The engine's client, or an error that says how to get an engine."""
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise GeneratorError(
            f"cannot reach the Docker engine: {exc}", hint="start dockerd or run scripts/setup-docker.sh"
        ) from exc


@contextmanager
def podman_service() -> Iterator[docker.DockerClient]:
    """A Docker SDK client on a ``podman system service`` of its own, stopped afterwards.

    Raises:
        GeneratorError: podman is missing or its service did not come up.
    """
    podman = require("podman")
    with tempfile.TemporaryDirectory(prefix="dsdeploy-podman-") as scratch:
        socket = Path(scratch) / "podman.sock"
        # --time=0: no idle timeout; this process stops the service itself.
        # The context closes the stderr pipe once the service has stopped.
        with subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{socket}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ) as service:
            try:
                client = _wait_for_service(service, socket)
                try:
                    yield client
                finally:
                    client.close()
            finally:
                stop(service)


def _wait_for_service(service: subprocess.Popen[bytes], socket: Path) -> docker.DockerClient:
    deadline = time.monotonic() + SERVICE_TIMEOUT
    while time.monotonic() < deadline:
        if service.poll() is not None:
            stderr = service.stderr.read().decode(errors="replace") if service.stderr else ""
            raise GeneratorError(
                f"`podman system service` exited with code {service.returncode}: {stderr.strip()[-500:]}",
                hint="check that `podman info` works as this user",
            )
        if socket.exists():
            client = docker.DockerClient(base_url=f"unix://{socket}")
            try:
                client.ping()
            except docker.errors.DockerException:
                client.close()
            else:
                return client
        time.sleep(0.05)
    raise GeneratorError(
        f"`podman system service` opened no socket within {SERVICE_TIMEOUT:.0f} s",
        hint="check that `podman info` works as this user",
    )


@contextmanager
def engine_client(engine: Engine = "docker") -> Iterator[docker.DockerClient]:
    """A Docker SDK client for ``engine``: Docker's own, or Podman's Docker-compatible service."""
    if engine == "podman":
        with podman_service() as client:
            yield client
    else:
        yield docker_client()
