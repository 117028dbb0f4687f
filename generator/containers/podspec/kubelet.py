"""What a kubelet does with one container, done with Docker: start, probe, restart, heal.

The pod-spec smoke (:mod:`generator.containers.podspec.smoke`) starts the container a chart
describes; this module then plays the kubelet: it waits for the container's ports to be published
(a container that exits first is a failed check with its exit code and log, never an exception),
runs the startup, readiness and liveness probes in the kubelet's order, restarts a container that
exits before it is ready (``restartPolicy: Always``) to tell a crash loop from a one-off, and, on
request, freezes a ready server to prove the liveness probe catches the hang within
``failureThreshold x periodSeconds`` and that the restarted container answers again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker.errors
from docker.models.containers import Container

from generator.containers.podspec.container_run import ContainerRun
from generator.containers.podspec.probes import (
    await_liveness_failure,
    await_probe,
    exit_diagnosis,
    has_exited,
)
from generator.engine.run import exit_reason, log_tail, published_ports
from generator.results import CheckResult, checked

START = "container starts and publishes its ports"
RESTART = "restartPolicy Always: the restarted container starts"
HANG = "livenessProbe catches a server that stops answering"
HEALED = "the restarted container is ready again"

#: Called with the host ports once the container is ready; returns the checks of the calls made.
ClientCalls = Callable[[dict[int, int]], list[CheckResult]]


@dataclass
class Exercise:
    """What the kubelet's part found.

    Attributes:
        checks: Every check in order.
        ready: Seconds from start to the readiness probe passing (None if it never did).
        host: Container port to published host port, as last published (empty if never).
    """

    checks: list[CheckResult] = field(default_factory=list)
    ready: float | None = None
    host: dict[int, int] = field(default_factory=dict)


def _exited(name: str, container: Container, run: ContainerRun, when: str) -> CheckResult:
    diagnosis = exit_diagnosis(container, run, when)
    if diagnosis is None:  # running, yet no ports after the timeout
        return checked(name, False, f"the engine published no ports: {container.ports}")
    return checked(name, False, diagnosis)


def _probes(container: Container, run: ContainerRun, host: dict[int, int], settle: float) -> Exercise:
    """Probes in the kubelet's order; stops at the first failure."""
    started = time.monotonic()
    found = Exercise(host=host)
    startup = run.probe("startup")
    # Liveness and readiness start only once a startup probe has passed.
    for probe in [p for p in (startup, run.probe("readiness"), run.probe("liveness")) if p is not None]:
        if probe.port not in host:
            found.checks.append(checked(probe.describe(), False, f"port {probe.port} is not published"))
            return found
        check = await_probe(container, run, probe, host[probe.port], budget=probe.budget, settle=settle)
        found.checks.append(check)
        if not check.passed:
            return found
        if probe.kind == "readiness":
            found.ready = time.monotonic() - started
    return found


def start_like_kubelet(
    container: Container, run: ContainerRun, *, settle: float, restarts: int = 1
) -> Exercise:
    """Wait for the ports, run the probes, and restart a container that exited before it was ready.

    Args:
        container: A container just started from ``run``.
        run: The container as the pod spec describes it.
        settle: Seconds a conclusive probe failure must last (see ``probes.await_probe``).
        restarts: Restarts allowed after an exit before ready; exiting again is a crash loop.

    Returns:
        The checks (a failed one names the exit code, the log's last line and its tail), the
        seconds to ready, and the published ports.
    """
    host = published_ports(container)
    if host is None:
        found = Exercise(checks=[_exited(START, container, run, "before its ports were published")])
    else:
        found = _probes(container, run, host, settle)
    for attempt in range(1, restarts + 1):
        if found.ready is not None or not has_exited(container):
            break
        # restartPolicy Always: the kubelet starts the same container again (then backs off).
        code = container.attrs["State"].get("ExitCode")
        container.start()
        again = published_ports(container)
        if again is None:
            found.checks.append(_restarted_and_exited(container, code, attempt))
            break
        retry = _probes(container, run, again, settle)
        found.host = again
        if retry.ready is None and has_exited(container):
            found.checks.append(_restarted_and_exited(container, code, attempt))
            break
        found.checks.append(checked(RESTART, retry.ready is not None, f"after restart {attempt}"))
        found.checks += retry.checks
        found.ready = retry.ready
    return found


def _restarted_and_exited(container: Container, first_code: int | None, attempt: int) -> CheckResult:
    logs = log_tail(container)
    code = container.attrs["State"].get("ExitCode")
    return checked(
        RESTART,
        False,
        f"CrashLoopBackOff: exited with code {first_code}, restarted {attempt} time(s), exited with code "
        f"{code} again: {exit_reason(logs)}",
    )


def heal(
    container: Container, run: ContainerRun, found: Exercise, calls: ClientCalls, *, settle: float
) -> None:
    """Freeze the ready server (SIGSTOP); the liveness probe must catch it, and the restart answer.

    Appends to ``found``: whether the liveness probe failed ``failureThreshold`` times within
    ``failureThreshold x periodSeconds``, whether the restarted container became ready, and the
    checks of ``calls`` made on it.
    """
    liveness = run.probe("liveness")
    if liveness is None or liveness.port not in found.host:
        found.checks.append(checked(HANG, False, "the spec has no livenessProbe on a published port"))
        return
    allowed = liveness.failure_threshold * liveness.period
    try:
        container.kill(signal="SIGSTOP")
    except docker.errors.APIError as exc:
        found.checks.append(checked(HANG, False, f"could not stop the server process: {exc}"))
        return
    seconds, outcome = await_liveness_failure(liveness, found.host[liveness.port], limit=2 * allowed)
    detail = (
        f"{liveness.failure_threshold} failures in a row ({outcome}) after {seconds:.1f} s"
        if seconds is not None
        else f"still passing after {2 * allowed:g} s ({outcome})"
    )
    caught = seconds is not None and seconds <= allowed
    found.checks.append(
        checked(HANG, caught, f"{detail}; allowed failureThreshold x periodSeconds = {allowed:g} s")
    )
    # The kubelet sends SIGTERM, then SIGKILL after the grace period; a stopped process can act on
    # neither but SIGKILL, so send that at once. Then restartPolicy Always starts it again.
    container.kill()
    container.wait(timeout=30)
    container.start()
    host = published_ports(container)
    if host is None:
        found.checks.append(_exited(HEALED, container, run, "after the liveness restart"))
        return
    again = _probes(container, run, host, settle)
    found.host = host
    found.checks.append(
        checked(
            HEALED,
            again.ready is not None,
            f"ready {again.ready:.2f} s after the restart" if again.ready else "",
        )
    )
    found.checks += [check for check in again.checks if not check.passed]
    if again.ready is not None:
        found.checks += calls(host)
