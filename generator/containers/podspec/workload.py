"""The workload a chart renders for the pod-spec smoke: its server Deployment and the Services.

:func:`render_chart` renders the chart with ``helm template`` (its image values pointed at a
local image); :func:`render_workload` keeps the one server Deployment and the Services;
:func:`service_ports` checks that every Service selecting the pod targets a port the container
declares.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from generator.chart.helm import Chart, Helm, require_helm
from generator.containers.podspec.container_run import ContainerRun
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef
from generator.results import CheckResult, checked

NAMESPACE = "models"
SERVER_COMPONENT = "server"


def _non_hooks(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d for d in documents if "helm.sh/hook" not in ((d.get("metadata") or {}).get("annotations") or {})
    ]


def render_chart(
    project: Path,
    image: ImageRef,
    values_set: str,
    *,
    helm: Helm | None = None,
    namespace: str = NAMESPACE,
    values: Sequence[Path] = (),
) -> tuple[str, list[dict[str, Any]]]:
    """The chart's name and the manifests ``helm template`` renders for ``values_set``, run on ``image``.

    ``values`` are extra values files layered over the set (e.g. a CPU limit of 2); the image's
    values come last.

    Raises:
        GeneratorError: Unknown values set, or helm refused.
    """
    chart = Chart.find(project)
    if values_set not in chart.values_sets:
        raise GeneratorError(
            f"the chart has no values set {values_set!r}", hint=f"pick one of {', '.join(chart.values_sets)}"
        )
    with tempfile.TemporaryDirectory(prefix="dsdeploy-podspec-") as scratch:
        override = Path(scratch) / "image-values.yaml"
        override.write_text(yaml.safe_dump(image.chart_values()), encoding="utf-8")
        documents = (helm or require_helm()).render(
            chart.name,
            chart.path,
            namespace=namespace,
            values=[*chart.values_files(values_set), *values, override],
        )
    return chart.name, documents


def render_workload(
    project: Path,
    image: ImageRef,
    values_set: str,
    *,
    helm: Helm | None = None,
    namespace: str = NAMESPACE,
    values: Sequence[Path] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The server Deployment and the Services the chart renders for ``values_set``, run on ``image``.

    Raises:
        GeneratorError: Unknown values set, helm refused, or no single server Deployment.
    """
    name, documents = render_chart(project, image, values_set, helm=helm, namespace=namespace, values=values)
    documents = _non_hooks(documents)
    deployments = [d for d in documents if d.get("kind") == "Deployment"]
    servers = [
        d
        for d in deployments
        if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == SERVER_COMPONENT
    ] or deployments
    if len(servers) != 1:
        raise GeneratorError(f"expected one server Deployment in {name}, found {len(servers)}")
    return servers[0], [d for d in documents if d.get("kind") == "Service"]


def service_ports(
    deployment: dict[str, Any], services: list[dict[str, Any]], run: ContainerRun
) -> tuple[list[CheckResult], int | None]:
    """Each Service selecting the pod must target a port the container declares.

    Returns:
        One check per Service port, and the container port the first of them reaches: None if it
        reaches none (the HTTP port comes first; the gRPC port after it is not one to call over HTTP).
    """
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    declared = ", ".join(f"{p.name}={p.number}" for p in run.ports) or "none"
    checks: list[CheckResult] = []
    reached: list[int | None] = []
    for service in services:
        selector = service["spec"].get("selector") or {}
        if not selector or any(labels.get(key) != value for key, value in selector.items()):
            continue
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            if isinstance(target, int) or str(target).isdigit():
                number: int | None = int(target) if any(p.number == int(target) for p in run.ports) else None
            else:
                named = run.port_named(str(target))
                number = named.number if named else None
            reached.append(number)
            name = f"Service {service['metadata']['name']} port {port.get('name', port['port'])}"
            checks.append(
                checked(name, number is not None, f"targetPort {target!r}; the container declares {declared}")
            )
    if not checks:
        checks.append(checked("Service", False, f"no Service selects the pod's labels {labels}"))
    return checks, (reached[0] if reached else None)
