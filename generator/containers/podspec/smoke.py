"""Pod-spec smoke: run the container a project's chart describes, with Docker, as the spec says.

Kubernetes cannot run everywhere (not on this project's CI machines), yet most ways a chart and
its image disagree show without a cluster: a probe on the wrong path, a ``containerPort`` the
server does not listen on, a Service ``targetPort`` naming no port, a write to a read-only root.
:func:`podspec_smoke` renders the chart with ``helm template`` (its image values pointed at a
local image; :mod:`~generator.containers.podspec.workload`), translates the Deployment's pod spec
into one ``docker run`` (:mod:`~generator.containers.podspec.translate`, which refuses what it cannot
reproduce), then does what a kubelet does (:mod:`~generator.containers.podspec.kubelet`): the startup,
readiness and liveness probes within their budgets, a restart of a container that exits (a crash
loop is named with its exit code and the log's last line), optionally a hung server healed by its
liveness probe; then what a client does (:mod:`~generator.containers.podspec.service_calls`): infer
calls on one kept-alive connection through the port the Service targets, answered as the model
itself answers. It ends with SIGTERM and the pod's grace period.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from generator.chart.helm import Helm
from generator.containers.podspec.container_run import ContainerRun
from generator.containers.podspec.init_containers import pod_volumes, run_init
from generator.containers.podspec.kubelet import heal, start_like_kubelet
from generator.containers.podspec.probes import SETTLE_SECONDS
from generator.containers.podspec.service_calls import ServiceCalls
from generator.containers.podspec.translate import translate
from generator.containers.podspec.workload import NAMESPACE, render_workload, service_ports
from generator.engine.client import docker_client
from generator.engine.image_store import image_config
from generator.engine.run import hardened_run_options
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef
from generator.process import ProgressFn, ignore_progress
from generator.results import CheckedReport, CheckResult, checked


@dataclass(frozen=True)
class PodspecReport(CheckedReport):
    """What the pod-spec smoke found.

    Attributes:
        project: The rendered project.
        values_set: The chart values set rendered (``default``, ``full``, ...).
        image: The image run.
        docker_command: The ``docker run`` line equivalent to the run (to reproduce by hand).
        checks: Every check in order; a failed one names the disagreement.
        notes: Approximations the translation made.
        ready_seconds: From container start to the readiness probe passing (None if it never did).
        logs: The tail of the container's output.
    """

    project: Path
    values_set: str
    image: str
    docker_command: str
    checks: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    ready_seconds: float | None = None
    logs: str = ""

    def summary(self) -> str:
        """One line per failed check, or a one-line all-clear."""
        return self.summarise(self.values_set, self.ready_seconds)


def _non_root(run: ContainerRun, image_user: str) -> CheckResult:
    uid = (run.user or image_user or "0").split(":", 1)[0]
    if not run.run_as_non_root:
        return checked("runAsNonRoot", True, "not demanded")
    if not uid.isdigit():
        return checked(
            "runAsNonRoot", False, f"image user {uid!r} is not numeric; a kubelet cannot verify it"
        )
    return checked("runAsNonRoot", int(uid) != 0, f"runs as uid {uid}")


def podspec_smoke(
    project: Path,
    image: str,
    values_set: str = "default",
    *,
    values: Sequence[Path] = (),
    without_devices: bool = False,
    heal_hang: bool = False,
    helm: Helm | None = None,
    settle: float = SETTLE_SECONDS,
    progress: ProgressFn = ignore_progress,
) -> PodspecReport:
    """Run ``image`` exactly as the project's chart would run it, and check chart and image agree.

    Args:
        project: A rendered project (holds ``charts/<slug>/``).
        image: A local image reference (``repository:tag``), e.g. from ``build_image``.
        values_set: The chart values set to render: ``default`` or a ``ci/<name>-values.yaml``.
        values: Extra values files layered over the set (``helm --values``, in order).
        without_devices: Run without device resources (GPUs) the values request, noting it,
            instead of refusing.
        heal_hang: Once ready, freeze the server (SIGSTOP) and check that the liveness probe
            catches it within ``failureThreshold x periodSeconds`` and the restarted container
            answers again (takes about that long).
        helm: The Helm to render with (default: the newest found).
        settle: Seconds a conclusive probe failure must last before the smoke stops waiting
            for the probe's whole budget.
        progress: Receives one line per step.

    Returns:
        The report; ``report.ok`` says whether chart and image agree on everything checked. A
        container that exits early is a failed check with its exit code and log, not an error.

    Raises:
        GeneratorError: The spec uses a field that cannot be reproduced (``Untranslatable``),
            contradicts itself, or the engine or image is missing.
    """
    ref = ImageRef.parse(image)
    deployment, services = render_workload(project, ref, values_set, helm=helm, values=values)
    run = translate(deployment, namespace=NAMESPACE, without_devices=without_devices)
    progress(run.docker_command())
    for note in run.notes:
        progress(f"note: {note}")
    try:
        client = docker_client()
        image_user = str(image_config(str(ref)).get("User") or "")
    except docker.errors.DockerException as exc:
        raise GeneratorError(f"cannot inspect {ref}: {exc}", hint="build it first (dsdeploy build)") from exc
    service_checks, infer_port = service_ports(deployment, services, run)
    checks = [
        checked("chart runs the image asked for", run.image == str(ref), f"renders {run.image}, asked {ref}"),
        _non_root(run, image_user),
        *service_checks,
    ]

    def report(ready: float | None = None, logs: str = "") -> PodspecReport:
        return PodspecReport(
            project, values_set, str(ref), run.docker_command(), tuple(checks), run.notes, ready, logs
        )

    if not all(check.passed for check in checks):
        return report()  # a kubelet would not start it either (or clients could never reach it)
    volumes = pod_volumes(client, run, str(ref))
    try:
        for init in run.init:
            progress(f"init container {init.name}: {init.docker_command()}")
            checks += run_init(client, init, volumes)
            if not checks[-1].passed:
                return report()  # the kubelet would retry it, and never start the server
        return _serve(client, ref, run, volumes, infer_port, checks, report, heal_hang, settle, progress)
    finally:
        for volume in volumes.values():
            with contextlib.suppress(docker.errors.DockerException):
                client.volumes.get(volume).remove(force=True)


def _serve(
    client: docker.DockerClient,
    ref: ImageRef,
    run: ContainerRun,
    volumes: dict[str, str],
    infer_port: int | None,
    checks: list[CheckResult],
    report: Callable[..., PodspecReport],
    heal_hang: bool,
    settle: float,
    progress: ProgressFn,
) -> PodspecReport:
    """Start the server container as the kubelet does, probe it, call it, stop it."""
    shared = run.volume_options(volumes)
    # The served model's signature, read where the server reads it: its mounts and environment.
    example_options = (
        {**hardened_run_options(), "environment": dict(run.env), "volumes": shared} if shared else None
    )
    calls = ServiceCalls(str(ref), run, infer_port, example_options)
    ports = {f"{port}/tcp": ("127.0.0.1", None) for port in run.published_ports()}
    try:
        container = client.containers.run(
            str(ref),
            detach=True,
            ports=ports,
            labels={"dsdeploy.podspec": "1"},
            volumes=shared,
            **run.docker_options(),
        )
    except docker.errors.DockerException as exc:
        raise GeneratorError(f"Docker refused to start `{run.docker_command()}`: {exc}") from exc
    try:
        found = start_like_kubelet(container, run, settle=settle)
        checks += found.checks
        if found.ready is not None:
            progress(f"ready after {found.ready:.2f} s")
            checks += calls(found.host)
            if heal_hang:
                progress("freezing the server (SIGSTOP) for the liveness probe to catch")
                before = len(found.checks)
                heal(container, run, found, calls, settle=settle)
                checks += found.checks[before:]
            checks.append(_stop(container, run))
        logs = container.logs(tail=30).decode(errors="replace")
    finally:
        container.remove(force=True)
    for check in checks:
        progress(
            f"{'ok  ' if check.passed else 'FAIL'} {check.name}"
            + ("" if check.passed else f": {check.detail}")
        )
    return report(found.ready, logs)


def _stop(container: Container, run: ContainerRun) -> CheckResult:
    """Stop as the kubelet does: the preStop hook, then SIGTERM, all within the grace period."""
    stop_started = time.monotonic()
    hook = ""
    if run.pre_stop_sleep:
        hook = f"preStop sleep {run.pre_stop_sleep:g} s, then "
        time.sleep(run.pre_stop_sleep)
    elif run.pre_stop_exec:
        hook = "preStop exec, then "
        container.exec_run(list(run.pre_stop_exec))
    # The grace period counts from the start of the hook; SIGKILL comes when it runs out.
    remaining = max(0.0, run.grace_seconds - (time.monotonic() - stop_started))
    container.stop(timeout=int(remaining))
    seconds = time.monotonic() - stop_started
    container.reload()
    code = int(container.attrs["State"]["ExitCode"])
    return checked(
        f"{hook}SIGTERM: exit 0 within terminationGracePeriodSeconds",
        code == 0 and seconds < run.grace_seconds,
        f"exit {code} after {seconds:.2f} s (grace {run.grace_seconds:g} s)",
    )
