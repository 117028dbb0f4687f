"""What a kubelet does with a container's probes, done from outside a Docker container.

:func:`await_probe` polls one probe until it passes ``successThreshold`` times in a row, within
the budget the spec gives it, and otherwise names why it failed: the HTTP status, nothing
listening on the probe's port while the server listens on another (read from the container's
``/proc/net``), or the container having exited (with the write to a read-only path or the OOM
kill that stopped it). :func:`await_liveness_failure` does the other half of a kubelet's job: it
probes a running container at the probe's own period until ``failureThreshold`` failures in a
row say the kubelet would restart it.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException

import docker.errors
from docker.models.containers import Container

from generator.containers.podspec.container_run import ContainerRun, Probe
from generator.engine.run import exit_reason, log_tail
from generator.results import CheckResult, checked

# Seconds a conclusive failure (HTTP 404, or no answer while the server listens elsewhere)
# must persist before the smoke stops waiting for the probe's full budget.
SETTLE_SECONDS = 8.0
_POLL = 0.25
_LISTENING_SCRIPT = """
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        fields = row.split()
        if fields[3] == "0A":  # TCP_LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
print(" ".join(str(port) for port in sorted(ports)))
"""


@dataclass(frozen=True)
class _Answer:
    """One probe attempt: passed, and what came back (``HTTP 404``, ``no answer``, ``timeout``)."""

    passed: bool
    outcome: str
    status: int | None = None


def ask(probe: Probe, host_port: int) -> _Answer:
    """One probe attempt from outside the container, as a kubelet makes it."""
    if probe.action == "tcpSocket":
        try:
            with socket.create_connection(("127.0.0.1", host_port), timeout=probe.timeout) as connection:
                # docker-proxy accepts for a port nothing listens on, then closes: read to tell.
                connection.settimeout(0.2)
                try:
                    closed = connection.recv(1) == b""
                except TimeoutError:
                    closed = False
            return _Answer(not closed, "no answer" if closed else "connected")
        except OSError:
            return _Answer(False, "no answer")
    url = f"http://127.0.0.1:{host_port}{probe.path}"
    request = urllib.request.Request(url, headers=dict(probe.headers))
    try:
        with urllib.request.urlopen(request, timeout=probe.timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except TimeoutError:
        return _Answer(False, f"no answer within timeoutSeconds {probe.timeout:g}")
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        # Through docker-proxy a closed port shows as a reset or an empty reply, not a refusal.
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return _Answer(False, f"no answer within timeoutSeconds {probe.timeout:g}")
        return _Answer(False, "no answer")
    # Kubernetes counts 200-399 as success.
    return _Answer(200 <= status < 400, f"HTTP {status}", status)


def listening_ports(container: Container) -> tuple[int, ...] | None:
    """TCP ports the container listens on (read from its /proc/net), or None if that failed."""
    try:
        code, output = container.exec_run(["python", "-c", _LISTENING_SCRIPT])
    except docker.errors.APIError:
        return None
    if code != 0:
        return None
    return tuple(int(port) for port in output.decode().split())


def has_exited(container: Container) -> bool:
    """Whether the container's process has ended (reloads its state from the engine)."""
    container.reload()
    return container.status in ("exited", "dead")


def exit_diagnosis(container: Container, run: ContainerRun, when: str = "") -> str | None:
    """Why the container stopped, if it did: exit code, OOM, a write to a read-only path.

    Args:
        container: The container.
        run: What it was started with (its writable paths and memory limit name the cause).
        when: Said after the exit code, e.g. ``before its ports were published``.

    Returns:
        None while it runs; otherwise one line (exit code and cause, else the log's last line),
        then the tail of its log.
    """
    if not has_exited(container):
        return None
    state = container.attrs["State"]
    logs = log_tail(container)
    writable = ", ".join(mount.path for mount in run.tmpfs) or "nothing"
    if state.get("OOMKilled"):
        cause = f"it was killed for exceeding its memory limit ({run.mem_limit} bytes)"
    elif run.read_only and (
        line := next((x for x in logs.splitlines() if "Read-only file system" in x), None)
    ):
        cause = (
            f"it wrote to a read-only path (readOnlyRootFilesystem: true; writable: {writable}): "
            f"{line.strip()}"
        )
    else:
        cause = f"its log ends: {exit_reason(logs)}"
    when = f" {when}" if when else ""
    code = state.get("ExitCode")
    return f"the container exited with code {code}{when}: {cause}\n--- container log ---\n{logs}"


def await_probe(
    container: Container, run: ContainerRun, probe: Probe, host_port: int, *, budget: float, settle: float
) -> CheckResult:
    """Poll ``probe`` until it passes ``successThreshold`` times in a row, or fail naming why."""
    started = time.monotonic()
    successes, conclusive_since = 0, None
    answer = _Answer(False, "not tried")
    hint = ""
    ports: tuple[int, ...] | None = None
    looked = 0.0  # when the listening ports were last read: an exec per poll would load the CPU
    while True:
        answer = ask(probe, host_port)
        if answer.passed:
            successes += 1
            if successes >= probe.success_threshold:
                return checked(
                    probe.describe(), True, f"{answer.outcome} after {time.monotonic() - started:.2f} s"
                )
        else:
            successes = 0
            if (stopped := exit_diagnosis(container, run)) is not None:
                return checked(probe.describe(), False, stopped)
            conclusive = answer.status in (404, 405)
            if answer.outcome == "no answer":
                if time.monotonic() - looked >= 1.0:
                    ports, looked = listening_ports(container), time.monotonic()
                if ports and probe.port not in ports:
                    listed = ", ".join(str(port) for port in ports)
                    hint = f"; the container listens on {listed}, not {probe.port}"
                    conclusive = True
            if conclusive:
                conclusive_since = conclusive_since or time.monotonic()
                if time.monotonic() - conclusive_since >= settle:
                    break
            else:
                conclusive_since, hint = None, ""
        if time.monotonic() - started >= budget:
            break
        time.sleep(_POLL)
    waited = time.monotonic() - started
    return checked(probe.describe(), False, f"{answer.outcome}{hint} (gave up after {waited:.1f} s)")


def await_liveness_failure(probe: Probe, host_port: int, *, limit: float) -> tuple[float | None, str]:
    """Probe every ``periodSeconds`` until ``failureThreshold`` failures in a row, as a kubelet does.

    Args:
        probe: The liveness probe.
        host_port: Where its container port is published.
        limit: Seconds to keep probing before giving up.

    Returns:
        Seconds from the call to the failure that makes a kubelet restart the container (None if
        that never came within ``limit``), and the last probe's outcome.
    """
    started = time.monotonic()
    failures = 0
    outcome = "not tried"
    while time.monotonic() - started < limit:
        attempt = time.monotonic()
        answer = ask(probe, host_port)
        outcome = answer.outcome
        failures = 0 if answer.passed else failures + 1
        if failures >= probe.failure_threshold:
            return time.monotonic() - started, outcome
        time.sleep(max(0.0, probe.period - (time.monotonic() - attempt)))
    return None, outcome
