"""A container run as the chart runs a pod: hardened options, published ports, waits, logs.

Containers run as the Helm chart runs a pod: a fixed non-root uid, a read-only root filesystem
with a writable ``/tmp``, no capabilities, no privilege escalation. A container can exit before
the engine has published its ports (a server that crashes on import, a command that ends at
once); asking for its ports then finds none. Every container check (the image smoke, the
pod-spec smoke) asks here instead, and reports such an exit as a failed check with the exit code
and the tail of the log, never as a ``KeyError``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from generator.engine.client import docker_client
from generator.errors import GeneratorError

RUN_AS_UID = 10001
SERVICE_PORT = 8080
HTTP_TIMEOUT = 10.0
LOG_TAIL = 30
# Seconds to wait for the engine to report a started container's published ports.
PUBLISH_TIMEOUT = 10.0
_POLL = 0.05
# A Python traceback's last line: ``package.module.SomeError: message`` (or a bare name).
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(:|$)")


class ContainerExited(GeneratorError):
    """The container stopped before it was ready; the message has its exit code and log tail.

    Attributes:
        code: The exit code (None if the engine did not say).
        logs: The tail of the container's output.
    """

    def __init__(self, code: int | None, logs: str, *, when: str) -> None:
        self.code = code
        self.logs = logs
        super().__init__(
            f"the container exited with code {code} {when}: {exit_reason(logs)}\n"
            f"--- container log ---\n{logs}"
        )


def exit_reason(logs: str) -> str:
    """Why a crashed process stopped, in one line: the last exception it printed, else its last line.

    A server whose start-up fails prints the traceback and then a generic last word (uvicorn:
    ``Application startup failed. Exiting.``); the exception line is the reason, so both are given.
    """
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    exception = next((line for line in reversed(lines) if _EXCEPTION_LINE.match(line)), None)
    if exception is None or exception == lines[-1]:
        return lines[-1]
    return f"{exception} (last line: {lines[-1]})"


def log_tail(container: Container) -> str:
    """The last ``LOG_TAIL`` lines of the container's output (stdout and stderr)."""
    return str(container.logs(tail=LOG_TAIL).decode(errors="replace"))


def exited_error(container: Container, when: str) -> ContainerExited:
    """The error for a container that has exited, with its exit code and log tail."""
    return ContainerExited(container.attrs["State"].get("ExitCode"), log_tail(container), when=when)


def published_ports(container: Container, *, timeout: float = PUBLISH_TIMEOUT) -> dict[int, int] | None:
    """Container port to host port once the engine has published them.

    Returns:
        The published ports (empty if the engine published none within ``timeout``), or None
        when the container exited first.
    """
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        published = {
            int(key.split("/")[0]): int(value[0]["HostPort"])
            for key, value in (container.ports or {}).items()
            if value
        }
        if container.status in ("exited", "dead"):
            return None
        if (container.status == "running" and published) or time.monotonic() >= deadline:
            return published
        time.sleep(_POLL)


def hardened_run_options() -> dict[str, Any]:
    """Docker SDK ``containers.run`` options matching the chart's pod ``securityContext``."""
    return {
        "user": str(RUN_AS_UID),
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},  # noqa: S108 - the container's own tmpfs
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }


@contextmanager
def running(
    image: str, *, environment: dict[str, str] | None = None, client: docker.DockerClient | None = None
) -> Iterator[tuple[Container, str]]:
    """Start ``image`` hardened, published on a free localhost port; always remove it.

    ``client`` is the engine's (default: Docker's; Podman's through its Docker-compatible API).

    Yields:
        The container and the service's base URL (``http://127.0.0.1:PORT``).

    Raises:
        GeneratorError: The image cannot be started.
        ContainerExited: It exited before the engine published its port.
    """
    client = client or docker_client()
    try:
        container = client.containers.run(
            image,
            detach=True,
            environment=environment or {},
            ports={f"{SERVICE_PORT}/tcp": ("127.0.0.1", None)},  # None: the engine picks a free port
            labels={"dsdeploy.smoke": "1"},
            **hardened_run_options(),
        )
    except docker.errors.DockerException as exc:
        raise GeneratorError(
            f"cannot start {image}: {exc}", hint=f"check that {image} exists (docker images)"
        ) from exc
    try:
        ports = published_ports(container)
        if ports is None:
            raise exited_error(container, "before its port was published")
        if SERVICE_PORT not in ports:
            raise GeneratorError(
                f"the engine published no port {SERVICE_PORT} for {image}: {container.ports}"
            )
        yield container, f"http://127.0.0.1:{ports[SERVICE_PORT]}"
    finally:
        container.remove(force=True)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    """Send one request; return the status and the JSON (or text) body, 4xx/5xx included."""
    # Only ever called with the http://127.0.0.1 URL of a container this module started.
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - our own http URL
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(
    container: Container, base_url: str, *, timeout: float = 60.0, started: float | None = None
) -> float:
    """Poll ``/v2/health/ready`` until it answers 200; return seconds since ``started``.

    Raises:
        ContainerExited: The container exited first.
        GeneratorError: It did not become ready within ``timeout``.
    """
    started = time.monotonic() if started is None else started
    while time.monotonic() - started < timeout:
        try:
            status, _ = http("GET", f"{base_url}/v2/health/ready")
            if status == 200:
                return time.monotonic() - started
        except OSError:
            pass  # not listening yet
        container.reload()
        if container.status in ("exited", "dead"):
            raise exited_error(container, "before it was ready")
        time.sleep(0.05)
    raise GeneratorError(f"{base_url}/v2/health/ready did not answer 200 within {timeout:.0f} s")
