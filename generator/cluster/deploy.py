"""``dsdeploy deploy --kind``: a rendered project on a local kind cluster, end to end.

The steps are those of the generated Makefile's ``kind-up`` and ``deploy`` targets (the same
command lines, built in :class:`DeployPlan`): create or reuse the cluster, build the image,
``kind load`` it, ``helm upgrade --install --wait``, wait for the rollout, ``helm test``; then
what the Makefile's ``smoke-kind`` does by hand: call the model through the Service, here
checking the answer against the model's own predictions. Waits, events, logs and the
port-forward use the kubernetes Python client. What the deploy created is removed at the end
unless ``keep`` is set; on failure the error carries pod events and container logs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from generator.chart.helm import Chart, Helm
from generator.cluster import kind
from generator.cluster.deploy_plan import NAMESPACE, SERVICE_PORT_NAME, DeployPlan, DeployReport, plan_deploy
from generator.cluster.kube import (
    Clients,
    clients,
    diagnostics,
    forwarded_request,
    service_target,
    wait_rollout,
)
from generator.containers.v2_client import image_example, infer_answer
from generator.containers.v2_client import model_name as model_name_of
from generator.engine.image_store import image_exists
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef
from generator.image.project_image import prepare_image
from generator.process import ProgressFn, ignore_progress, run
from generator.project.digests import build_digest
from generator.results import CheckResult, checked

_T = TypeVar("_T")


@contextmanager
def _kubeconfig(cluster: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dsdeploy-kube-") as scratch:
        yield kind.write_kubeconfig(cluster, Path(scratch) / "kubeconfig")


def _model_name(clients: Clients, plan: DeployPlan) -> str:
    selector = f"{plan.selector},app.kubernetes.io/component=server"
    for deployment in clients.apps.list_namespaced_deployment(plan.namespace, label_selector=selector).items:
        for container in deployment.spec.template.spec.containers:
            for variable in container.env or []:
                if variable.name == "MODEL_NAME" and variable.value:
                    return str(variable.value)
    # The spec names no model: the service then uses the name the image was labelled with.
    return model_name_of(str(plan.image))


def call_service(clients: Clients, plan: DeployPlan, model_name: str) -> CheckResult:
    """One v2 infer call through a port-forward to the Service, checked against the model itself."""
    example = image_example(str(plan.image))
    services = clients.core.list_namespaced_service(
        plan.namespace, label_selector=f"{plan.selector},app.kubernetes.io/component=server"
    ).items
    if len(services) != 1:
        raise GeneratorError(f"expected one server Service for {plan.release}, found {len(services)}")
    service = services[0]
    selector = ",".join(f"{key}={value}" for key, value in (service.spec.selector or {}).items())
    pods = clients.core.list_namespaced_pod(plan.namespace, label_selector=selector).items
    pod, port = service_target(service, pods, SERVICE_PORT_NAME)
    path = f"/v2/models/{model_name}/infer"
    status, body = forwarded_request(
        clients.core, plan.namespace, pod, port, "POST", path, example.infer_body()
    )
    got = infer_answer(body)
    detail = f"POST {path} via service/{service.metadata.name} -> pod/{pod}:{port}: HTTP {status}: got {got}"
    return checked(
        "v2 infer through a port-forward",
        status == 200 and example.matches(got),
        f"{detail}, model says {example.predictions}",
    )


def remove(plan: DeployPlan, *, delete_cluster: bool) -> None:
    """Uninstall the release, and delete the cluster when ``delete_cluster`` (the deploy made it)."""
    if delete_cluster:
        kind.delete_cluster(plan.cluster)  # takes the release with it
        return
    with _kubeconfig(plan.cluster) as kubeconfig:
        run(plan.uninstall_command(kubeconfig), timeout=plan.timeout + 60)


def deploy_to_kind(
    project: Path,
    *,
    cluster: str | None = None,
    keep: bool = False,
    image: str | None = None,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    values: Sequence[Path] = (),
    helm: Helm | None = None,
    namespace: str = NAMESPACE,
    timeout: float = 300,
    progress: ProgressFn = ignore_progress,
) -> DeployReport:
    """Deploy a rendered project to kind, prove it serves its model, and clean up.

    Args:
        project: A rendered project with ``uv.lock`` (for the build) and ``deploy/kind/cluster.yaml``.
        cluster: kind cluster name; default: the config's ``name`` (the project slug). An
            existing cluster of that name is reused and never deleted.
        keep: Leave the release (and a cluster this call created) running.
        image: A local image to deploy (``repository:tag``); default: build one from the project.
        base_image: ``BASE_IMAGE`` for that build (default: :func:`generator.image.build.choose_base_image`).
        ca_bundle: CA bundle for the build behind a TLS-inspecting proxy.
        values: Extra chart values files (e.g. one switching on autoscaling and a PDB).
        helm: The Helm to install with (default: the newest found).
        namespace: Namespace of the release.
        timeout: Seconds for each wait.
        progress: Receives one line per step (and the build's and cluster creation's output).

    Returns:
        The report; ``report.ok`` says whether the model answered as itself.

    Raises:
        GeneratorError: kind cannot run here (one-line reason), or a step failed; failures after
            the install carry pod events and container logs.
    """
    steps: list[tuple[str, float]] = []

    def step(name: str, action: Callable[[], _T]) -> _T:
        progress(f"{name} ...")
        started = time.monotonic()
        result = action()
        steps.append((name, time.monotonic() - started))
        return result

    if image is not None and not image_exists(image):
        raise GeneratorError(f"image {image} is not in the local engine", hint="build it, or omit --image")
    tag = image or f"{Chart.find(project).name}:dsdeploy-{build_digest(project)[:12]}"
    plan = plan_deploy(
        project,
        ImageRef.parse(tag),
        cluster=cluster,
        values=values,
        helm=helm,
        namespace=namespace,
        timeout=timeout,
    )
    created = not kind.cluster_exists(plan.cluster)
    # Ask up front (seconds) whether kind can create the cluster, before a build of minutes.
    if created and (reason := kind.kind_unavailable_reason(config=plan.config)) is not None:
        raise GeneratorError(f"cannot create kind cluster {plan.cluster}: {reason}")
    if image is None:
        step(f"build {tag}", lambda: _build(project, tag, base_image, ca_bundle, progress))
    if created:
        step(
            f"create kind cluster {plan.cluster}",
            lambda: kind.create_cluster(plan.cluster, plan.config, progress=progress, timeout=timeout + 300),
        )
    try:
        step(f"kind load {plan.image}", lambda: kind.load_image(plan.cluster, str(plan.image)))
        with _kubeconfig(plan.cluster) as kubeconfig:
            api = clients(kubeconfig)
            try:
                step(
                    "helm upgrade --install --wait",
                    lambda: run(plan.install_command(kubeconfig), timeout=timeout + 60),
                )
                step("rollout", lambda: wait_rollout(api, plan.namespace, plan.selector, timeout=timeout))
                tested = step("helm test", lambda: run(plan.test_command(kubeconfig), timeout=timeout + 60))
                model_name = _model_name(api, plan)
                infer = step("infer through a port-forward", lambda: call_service(api, plan, model_name))
            except GeneratorError as exc:
                details = diagnostics(api.core, plan.namespace, plan.selector)
                raise GeneratorError(f"{exc.message}\n{details}", hint=exc.hint) from exc
        progress(f"{'ok  ' if infer.passed else 'FAIL'} {infer.name}: {infer.detail}")
    except BaseException:
        if not keep:
            _cleanup(plan, created, progress)
        raise
    if not keep:
        # After a success, a failed removal is the error to report: it leaves things running.
        step("remove", lambda: remove(plan, delete_cluster=created))
    return DeployReport(plan, created, keep, model_name, infer, tested.stdout, tuple(steps))


def _build(
    project: Path, tag: str, base_image: str | None, ca_bundle: Path | None, progress: ProgressFn
) -> None:
    # The one build path, on the project's own lock: a deploy ships what the user locked.
    with tempfile.TemporaryDirectory(prefix="dsdeploy-deploy-") as scratch:
        prepare_image(
            project,
            Path(scratch),
            base_image=base_image,
            ca_bundle=ca_bundle,
            tag=tag,
            relock=False,
            progress=progress,
        )


def _cleanup(plan: DeployPlan, created: bool, progress: ProgressFn) -> None:
    # Removal must not replace the error that led here: report its failure as progress only.
    try:
        remove(plan, delete_cluster=created)
    except GeneratorError as exc:
        progress(f"cleanup failed: {exc}")


def teardown(report: DeployReport) -> None:
    """Remove what a ``keep=True`` deploy left: the release, and the cluster if it created it."""
    remove(report.plan, delete_cluster=report.created_cluster)
