"""The KServe runtime smoke: the predictor KServe would run for the chart's ServingRuntime, on Docker.

The chart renders a ServingRuntime and an InferenceService that names it (``kserve.mode=runtime``);
:func:`~generator.containers.podspec.kserve.predictor_pod` builds the pod KServe's controller and
webhook would (runtime container patched by the predictor, ``{{.Name}}`` filled in, the model
mounted at ``/mnt/models``), :func:`~generator.containers.podspec.translate.translate` turns it
into one hardened ``docker run``, and the model files are bind-mounted read-only where the storage
initializer leaves them. Then, as in the pod-spec smoke, the kubelet's probes within their
budgets and v2 infer calls answered as the model answers its own example; extra client checks
(gRPC) are passed in by the caller.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker.errors

from generator.chart.helm import Helm
from generator.containers.podspec.container_run import ContainerRun
from generator.containers.podspec.kserve import MODEL_MOUNT, RUNTIME_KINDS, predictor_pod
from generator.containers.podspec.kubelet import start_like_kubelet
from generator.containers.podspec.probes import SETTLE_SECONDS
from generator.containers.podspec.service_calls import ServiceCalls
from generator.containers.podspec.smoke import PodspecReport
from generator.containers.podspec.translate import translate
from generator.containers.podspec.workload import NAMESPACE, render_chart
from generator.engine.client import docker_client
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef
from generator.process import ProgressFn, ignore_progress
from generator.results import CheckResult, checked

#: The chart's values set that switches runtime mode on (ci/kserve-runtime-values.yaml).
RUNTIME_VALUES_SET = "kserve-runtime"
#: Called with the running predictor's run and its published ports; returns its checks.
ExtraCalls = Callable[[ContainerRun, dict[int, int]], list[CheckResult]]


def render_runtime(
    project: Path, image: ImageRef, values_set: str, *, helm: Helm | None = None, values: Sequence[Path] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ServingRuntime (or ClusterServingRuntime) and the InferenceService the chart renders.

    Raises:
        GeneratorError: Unknown values set, helm refused, or not exactly one of each.
    """
    name, documents = render_chart(project, image, values_set, helm=helm, values=values)
    runtimes = [d for d in documents if d.get("kind") in RUNTIME_KINDS]
    services = [d for d in documents if d.get("kind") == "InferenceService"]
    if len(runtimes) != 1 or len(services) != 1:
        raise GeneratorError(
            f"expected one ServingRuntime and one InferenceService in {name} ({values_set}), "
            f"found {len(runtimes)} and {len(services)}",
            hint="render a values set with kserve.enabled, kserve.mode=runtime and kserve.runtime.create",
        )
    return runtimes[0], services[0]


def with_model_files(run: ContainerRun, model_dir: Path) -> tuple[dict[str, Any], str]:
    """Docker options and the ``docker run`` line with ``model_dir`` bound where KServe mounts the model.

    The pod's model volume is an emptyDir the storage initializer filled; here it is the folder
    itself, bound with the mount's own read-only flag.

    Raises:
        GeneratorError: The pod mounts nothing at ``/mnt/models`` (the InferenceService has no storageUri).
    """
    [mount] = [m for m in run.tmpfs if m.path == MODEL_MOUNT] or [None]
    if mount is None:
        raise GeneratorError(f"the predictor mounts nothing at {MODEL_MOUNT}", hint="set kserve.storageUri")
    rest = dataclasses.replace(run, tmpfs=tuple(m for m in run.tmpfs if m is not mount))
    mode = "ro" if mount.read_only else "rw"
    options = rest.docker_options()
    options["volumes"] = {str(model_dir): {"bind": MODEL_MOUNT, "mode": mode}}
    parts = shlex.split(rest.docker_command())
    parts[3:3] = ["--volume", f"{model_dir}:{MODEL_MOUNT}:{mode}"]  # after `docker run --rm`
    return options, shlex.join(parts)


def kserve_runtime_smoke(
    project: Path,
    image: str,
    model_dir: Path,
    values_set: str = RUNTIME_VALUES_SET,
    *,
    values: Sequence[Path] = (),
    extra_calls: ExtraCalls | None = None,
    helm: Helm | None = None,
    settle: float = SETTLE_SECONDS,
    progress: ProgressFn = ignore_progress,
) -> PodspecReport:
    """Run ``image`` as KServe runs the chart's ServingRuntime for its InferenceService, and check it.

    Args:
        project: A rendered project (holds ``charts/<slug>/``).
        image: A local image reference, put in the chart's image values.
        model_dir: The model files as KServe's storage initializer leaves them (the storageUri's
            content), bound at ``/mnt/models``; readable by the container's uid.
        values_set: The chart values set to render (one with ``kserve.mode=runtime``).
        values: Extra values files layered over the set.
        extra_calls: More client checks once the predictor is ready (e.g. gRPC).
        helm: The Helm to render with (default: the newest found).
        settle: Seconds a conclusive probe failure must last before giving up on it.
        progress: Receives one line per step.

    Returns:
        The report: the probes, the v2 infer calls through the runtime's HTTP port, the extra calls.

    Raises:
        GeneratorError: The runtime or predictor uses what cannot be reproduced, or they disagree.
    """
    ref = ImageRef.parse(image)
    runtime, isvc = render_runtime(project, ref, values_set, helm=helm, values=values)
    try:
        pod = predictor_pod(runtime, isvc, NAMESPACE)
    except ValueError as exc:
        raise GeneratorError(f"KServe would refuse this InferenceService: {exc}") from exc
    run = translate(pod, namespace=NAMESPACE)
    options, command = with_model_files(run, model_dir)
    progress(command)
    http = next((port.number for port in run.ports if port.name in ("http1", "http")), None)
    checks: list[CheckResult] = [
        checked("runtime runs the image asked for", run.image == str(ref), f"renders {run.image}, not {ref}"),
        checked("runtime declares an HTTP port (http1)", http is not None, f"declares {run.ports}"),
    ]
    calls = ServiceCalls(str(ref), run, http)
    ports = {f"{port}/tcp": ("127.0.0.1", None) for port in run.published_ports()}
    try:
        container = docker_client().containers.run(
            str(ref), detach=True, ports=ports, labels={"dsdeploy.kserve": "1"}, **options
        )
    except docker.errors.DockerException as exc:
        raise GeneratorError(f"Docker refused to start `{command}`: {exc}") from exc
    try:
        found = start_like_kubelet(container, run, settle=settle)
        checks += found.checks
        if found.ready is not None:
            progress(f"ready after {found.ready:.2f} s")
            checks += calls(found.host)
            if extra_calls is not None:
                checks += extra_calls(run, found.host)
        logs = container.logs(tail=30).decode(errors="replace")
    finally:
        container.remove(force=True)
    for check in checks:
        progress(f"ok   {check.name}" if check.passed else f"FAIL {check.name}: {check.detail}")
    return PodspecReport(project, values_set, str(ref), command, tuple(checks), run.notes, found.ready, logs)
