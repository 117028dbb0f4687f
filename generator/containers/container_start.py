"""A started container seen through to its published ports, or the reason it stopped.

A container can exit before the engine has published its ports (a server that crashes on
import, a command that ends at once); asking for its ports then finds none. Every container
check (the image smoke, the pod-spec smoke) asks here instead, and reports such an exit as a
failed check with the exit code and the tail of the log, never as a ``KeyError``.
"""

from __future__ import annotations

import re
import time

from docker.models.containers import Container

from generator.errors import GeneratorError

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
